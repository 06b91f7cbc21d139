"""RTP by hand for the lean load clients (``bench/load_client.py``): pure parts.

A lean client lets aiortc set its peer connection up (offer/answer, ICE, DTLS, SRTP keys)
and then moves its audio itself, a few struct calls per packet instead of aiortc's
per-packet objects and coroutines. This module holds what that needs and can be tested
without a network:

- ``RtpSendHeader``, ``rtp_fields``, ``is_rtcp``: headers as aiortc writes them and the
  fields of received packets, shared with the product's own fast path (they live in
  ``webrtc/rtp_header.py``, re-exported here);
- ``ToneCheck``: does one received 20 ms frame hold the echoed 1 kHz tone? Opus is
  decoded by the system libopus straight to 8 kHz float (the tone is at 1 kHz: 8 kHz
  sampling holds it), PCMU through a table; one precomputed cosine/sine pair in float32
  gives the tone's amplitude.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from tests.lab.sipp import ulaw_decode_table
from webrtc.libopus import LIBOPUS
from webrtc.rtp_header import MID_URI, RtpSendHeader, is_rtcp, rtp_fields

__all__ = ["MID_URI", "OPUS", "RATE", "SAMPLES", "ULAW", "RtpSendHeader", "ToneCheck",
           "is_rtcp", "rtp_fields"]

RATE = 8000  # the tone check's sampling rate, for both codecs
SAMPLES = RATE // 50


ULAW = ulaw_decode_table().astype(np.float32)


def _with_float_decoding(lib: ctypes.CDLL | None) -> ctypes.CDLL | None:
    """The system libopus the gateway loads (``webrtc/libopus.py``), with the one entry
    point only this check uses declared: decoding straight to float."""
    if lib is not None:
        c = ctypes
        lib.opus_decode_float.restype = c.c_int
        lib.opus_decode_float.argtypes = [c.c_void_p, c.c_char_p, c.c_int32, c.c_void_p,
                                          c.c_int, c.c_int]
    return lib


OPUS = _with_float_decoding(LIBOPUS)
_MAX_SAMPLES = RATE * 120 // 1000  # the longest Opus packet
_MEMO_SIZE = 4096  # PCMU verdicts kept (a client sends 250 distinct frames)


class ToneCheck:
    """Amplitude of one frequency in one 20 ms frame, against a threshold (both in
    full-scale units, 1.0 = 32768)."""

    def __init__(self, codec: str, freq: float, threshold: float) -> None:
        if codec not in ("opus", "pcmu"):
            raise ValueError(f"no tone check for {codec!r}")
        if codec == "opus" and OPUS is None:
            raise RuntimeError("libopus not found (Debian: libopus0)")
        self.codec = codec
        t = np.arange(SAMPLES) / RATE
        # amplitude = |2/N sum x e^{-iwt}|: the 2/N goes into the basis once.
        scale = 2 / SAMPLES
        self._basis = np.stack([np.cos(2 * math.pi * freq * t) * scale,
                                np.sin(2 * math.pi * freq * t) * scale]).astype(np.float32)
        self._threshold2 = threshold * threshold
        self._state: int | None = None
        # A PCMU frame's verdict depends on its bytes alone, and an echo brings back the
        # few hundred frames the client sends: remembered, the check costs a dict lookup
        # (numpy was ~10 % of a load client's CPU). Opus decoding carries state: no memo.
        self._verdicts: dict[bytes, bool] | None = {} if codec == "pcmu" else None
        if codec == "opus":
            assert OPUS is not None
            error = ctypes.c_int()
            state = OPUS.opus_decoder_create(RATE, 1, ctypes.byref(error))
            if not state or error.value:
                raise RuntimeError(f"opus_decoder_create: {error.value}")
            self._state = state
            self._out = (ctypes.c_float * _MAX_SAMPLES)()
            self._pcm = np.ctypeslib.as_array(self._out)[:SAMPLES]  # a view, made once
            self._decode = OPUS.opus_decode_float
            self._destroy = OPUS.opus_decoder_destroy

    def amplitude(self, payload: bytes) -> float:
        c, s = self._dot(payload)
        return math.sqrt(c * c + s * s)

    def __call__(self, payload: bytes) -> bool:
        verdicts = self._verdicts
        if verdicts is None:
            c, s = self._dot(payload)
            return c * c + s * s >= self._threshold2
        verdict = verdicts.get(payload)
        if verdict is None:
            c, s = self._dot(payload)
            verdict = c * c + s * s >= self._threshold2
            if len(verdicts) >= _MEMO_SIZE:
                verdicts.clear()
            verdicts[payload] = verdict
        return verdict

    def _dot(self, payload: bytes) -> tuple[float, float]:
        if self._state is not None:
            n = self._decode(self._state, payload, len(payload), self._out, _MAX_SAMPLES, 0)
            if n != SAMPLES:  # an error (< 0) or not one 20 ms frame: no verdict of tone
                return 0.0, 0.0
            c, s = self._basis @ self._pcm
        else:
            if len(payload) != SAMPLES:
                return 0.0, 0.0
            c, s = self._basis @ ULAW[np.frombuffer(payload, dtype=np.uint8)]
        return float(c), float(s)

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._destroy(state)
