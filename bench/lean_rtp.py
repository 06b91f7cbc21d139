"""RTP by hand for the lean load clients (``bench/load_client.py``): pure parts.

A lean client lets aiortc set its peer connection up (offer/answer, ICE, DTLS, SRTP keys)
and then moves its audio itself, a few struct calls per packet instead of aiortc's
per-packet objects and coroutines. This module holds what that needs and can be tested
without a network:

- ``RtpSendHeader``: the bytes aiortc's sender would put before a payload (12-byte header,
  marker set as aiortc sets it on a one-payload audio frame, the one-byte ``sdes:mid``
  header extension when it was negotiated);
- ``rtp_fields``: sequence number, timestamp and where the payload lies in a received
  packet (CSRC list, header extension and padding skipped);
- ``ToneCheck``: does one received 20 ms frame hold the echoed 1 kHz tone? Opus is
  decoded by the system libopus straight to 8 kHz float (the tone is at 1 kHz: 8 kHz
  sampling holds it), PCMU through a table; one precomputed cosine/sine pair in float32
  gives the tone's amplitude.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import struct

import numpy as np
import numpy.typing as npt

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_HEADER = struct.Struct("!BBHII")
_SEQ_TS = struct.Struct("!HI")
RATE = 8000  # the tone check's sampling rate, for both codecs
SAMPLES = RATE // 50


class RtpSendHeader:
    """One sender's RTP header: SSRC, payload type and extensions fixed, sequence number
    and timestamp per packet."""

    def __init__(self, ssrc: int, payload_type: int, mid: str | None = None,
                 mid_id: int | None = None, marker: bool = True) -> None:
        ext = b""
        if mid is not None and mid_id is not None:
            value = mid.encode()
            if not 1 <= len(value) <= 16 or not 1 <= mid_id <= 14:
                raise ValueError("mid does not fit a one-byte header extension")
            element = bytes([mid_id << 4 | (len(value) - 1)]) + value
            element += b"\x00" * (-len(element) % 4)
            ext = struct.pack("!HH", 0xBEDE, len(element) // 4) + element
        self.first = 0x80 | (0x10 if ext else 0)
        self.second = (0x80 if marker else 0) | payload_type
        self.ssrc = ssrc
        self.ext = ext

    def packet(self, seq: int, timestamp: int, payload: bytes) -> bytes:
        return (_HEADER.pack(self.first, self.second, seq & 0xFFFF, timestamp & 0xFFFFFFFF,
                             self.ssrc) + self.ext + payload)


def is_rtcp(data: bytes) -> bool:
    """RTCP, not RTP, on a multiplexed port (RFC 5761: payload type 64-80 with the
    marker bit; the test aiortc makes)."""
    return len(data) >= 2 and 192 <= data[1] <= 208


def rtp_fields(data: bytes) -> tuple[int, int, int, int, int]:
    """(payload type, sequence number, timestamp, payload start, payload end) of an RTP
    packet; ValueError if it is not one."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2:
        raise ValueError("not an RTP packet")
    first = data[0]
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if n < start + 4:
            raise ValueError("truncated header extension")
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    if start > n:
        raise ValueError("truncated RTP packet")
    end = n
    if first & 0x20:
        if not data[-1] or data[-1] > n - start:
            raise ValueError("invalid RTP padding")
        end -= data[-1]
    seq, timestamp = _SEQ_TS.unpack_from(data, 2)
    return data[1] & 0x7F, seq, timestamp, start, end


def _ulaw_table() -> npt.NDArray[np.float32]:
    codes = np.arange(256)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(sign, -magnitude, magnitude) / 32768).astype(np.float32)


ULAW = _ulaw_table()


def _load_opus() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("opus")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    c = ctypes
    lib.opus_decoder_create.restype = c.c_void_p
    lib.opus_decoder_create.argtypes = [c.c_int32, c.c_int, c.POINTER(c.c_int)]
    lib.opus_decode_float.restype = c.c_int
    lib.opus_decode_float.argtypes = [c.c_void_p, c.c_char_p, c.c_int32, c.c_void_p,
                                      c.c_int, c.c_int]
    lib.opus_decoder_destroy.restype = None
    lib.opus_decoder_destroy.argtypes = [c.c_void_p]
    return lib


OPUS = _load_opus()
_MAX_SAMPLES = RATE * 120 // 1000  # the longest Opus packet


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
        c, s = self._dot(payload)
        return c * c + s * s >= self._threshold2

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
