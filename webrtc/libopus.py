"""The system's libopus (Debian ``libopus0``) through ctypes: mono, at the worker's 16 kHz
(or 8 kHz, for calls relayed to a G.711 far end: ``webrtc/narrowband.py``).

Why not av/ffmpeg: ffmpeg's Opus decoders always give 48 kHz (to be resampled again),
and going through av costs a frame object, a generator and a packet object per 20 ms:
on a busy host av's encode of a frame took ~200 µs against ~100 µs for the same libopus
call made directly. libopus itself encodes and decodes 16 kHz mono natively (its RTP
clock stays 48 kHz whatever the rate inside).

``LIBOPUS`` is ``None`` when the library is not installed: callers fall back to av or to
aiortc's own codecs (more CPU per call, same audio).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from gateway.pcm import FRAME_MS, SAMPLE_RATE

log = logging.getLogger(__name__)

_APPLICATION_VOIP = 2048
_SET_BITRATE = 4002
_SET_COMPLEXITY = 4010
_GET_COMPLEXITY = 4011
_SET_MAX_BANDWIDTH = 4004
_GET_MAX_BANDWIDTH = 4005
NARROWBAND = 1101  # 4 kHz of audio: all that G.711 carries
WIDEBAND = 1103  # 8 kHz: G.722, and everything the worker's 16 kHz can hold
# libopus's default is 10, its most expensive. 5 is what WebRTC itself uses on phones,
# and what this gateway sends is at best G.711 or G.722 from the SIP side: the search
# that 6-10 add (SILK's delayed-decision quantiser, finer pitch analysis) buys nothing
# audible from such a source. Measured here on 10 s of speech-like narrowband audio,
# 16 kHz mono, 32 kbit/s, VoIP: ~390 µs a frame at 10 against ~200 at 5 (1 % of a core
# per call saved); a pure test tone is coded by CELT and is no guide to that cost.
COMPLEXITY = 5
_MAX_MS = 120  # the longest Opus packet
_MAX_PACKET = 1500


class OpusError(Exception):
    """libopus refused (a corrupt packet, when decoding)."""


def _load() -> ctypes.CDLL | None:
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
    lib.opus_decode.restype = c.c_int
    lib.opus_decode.argtypes = [c.c_void_p, c.c_char_p, c.c_int32, c.c_void_p, c.c_int,
                                c.c_int]
    lib.opus_decoder_destroy.restype = None
    lib.opus_decoder_destroy.argtypes = [c.c_void_p]
    lib.opus_encoder_create.restype = c.c_void_p
    lib.opus_encoder_create.argtypes = [c.c_int32, c.c_int, c.c_int, c.POINTER(c.c_int)]
    lib.opus_encode.restype = c.c_int32
    lib.opus_encode.argtypes = [c.c_void_p, c.c_char_p, c.c_int, c.c_void_p, c.c_int32]
    lib.opus_encoder_ctl.restype = c.c_int
    lib.opus_encoder_ctl.argtypes = [c.c_void_p, c.c_int, c.c_int32]
    lib.opus_encoder_destroy.restype = None
    lib.opus_encoder_destroy.argtypes = [c.c_void_p]
    return lib


LIBOPUS = _load()
if LIBOPUS is None:
    log.warning("libopus not found (Debian: libopus0): Opus goes through av and aiortc,"
                " at more CPU per call")


class Decoder:
    """Opus packets to mono s16 at ``rate`` (16 kHz unless told)."""

    def __init__(self, lib: ctypes.CDLL, rate: int = SAMPLE_RATE) -> None:
        error = ctypes.c_int()
        state = lib.opus_decoder_create(rate, 1, ctypes.byref(error))
        if not state or error.value:
            raise OpusError(f"opus_decoder_create: {error.value}")
        self._lib = lib
        self._state = state
        self._max_samples = rate * _MAX_MS // 1000
        self._out = ctypes.create_string_buffer(self._max_samples * 2)

    def decode(self, payload: bytes) -> bytes:
        samples = self._lib.opus_decode(self._state, payload, len(payload), self._out,
                                        self._max_samples, 0)
        if samples < 0:
            raise OpusError(f"opus_decode: {samples}")
        return self._out.raw[: samples * 2]

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.opus_decoder_destroy(state)


class Encoder:
    """20 ms of mono s16 at ``rate`` (16 kHz unless told) to one Opus packet (VoIP mode,
    ``bitrate`` bit/s, audio up to ``max_bandwidth``; at 8 kHz that is narrowband)."""

    def __init__(self, lib: ctypes.CDLL, bitrate: int, max_bandwidth: int = WIDEBAND,
                 rate: int = SAMPLE_RATE) -> None:
        error = ctypes.c_int()
        state = lib.opus_encoder_create(rate, 1, _APPLICATION_VOIP, ctypes.byref(error))
        if not state or error.value:
            raise OpusError(f"opus_encoder_create: {error.value}")
        self._lib = lib
        self._state = state
        # opus_encoder_ctl is variadic; one int argument passes the same way as a fixed
        # one on the x86-64 and AArch64 Linux ABIs this runs on.
        for request, value, name in ((_SET_BITRATE, bitrate, "bitrate"),
                                     (_SET_COMPLEXITY, COMPLEXITY, "complexity"),
                                     (_SET_MAX_BANDWIDTH, max_bandwidth, "bandwidth")):
            status = lib.opus_encoder_ctl(state, request, value)
            if status:
                log.warning("libopus did not take %s %d (%d): its default is used",
                            name, value, status)
        self._frame_samples = rate * FRAME_MS // 1000
        self._out = ctypes.create_string_buffer(_MAX_PACKET)

    def encode(self, pcm: bytes) -> bytes:
        size = self._lib.opus_encode(self._state, pcm, self._frame_samples, self._out,
                                     _MAX_PACKET)
        if size < 0:
            raise OpusError(f"opus_encode: {size}")
        return self._out.raw[:size]

    def complexity(self) -> int:
        """The complexity libopus is using (read back, for tests and logs)."""
        return self._get(_GET_COMPLEXITY)

    def max_bandwidth(self) -> int:
        """``NARROWBAND`` or ``WIDEBAND`` as libopus holds it (read back)."""
        return self._get(_GET_MAX_BANDWIDTH)

    def _get(self, request: int) -> int:
        # The getters take a pointer where the setters take an int: a prototype of its own.
        getter = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_int32))(
            ("opus_encoder_ctl", self._lib))
        value = ctypes.c_int32(-1)
        getter(self._state, request, ctypes.byref(value))
        return value.value

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.opus_encoder_destroy(state)
