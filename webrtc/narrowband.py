"""Opus to and from G.711 at 8 kHz, for a call relayed between an Opus browser and a
G.711 far end (direct media: ``sip_bridge/rtp_leg.py``).

Why: the worker's own audio format is 16 kHz (``gateway/pcm.py``), so transcoding through
it costs an 8 -> 16 kHz filter on the far end's audio, Opus resampling it back to 8 kHz
inside its narrowband coder, and a 16 -> 8 kHz filter on the browser's. G.711 holds 8 kHz
audio and nothing more, and libopus codes and decodes 8 kHz natively (the RTP clock stays
48 kHz whatever the rate inside), so here each direction is one table and one libopus
call. Measured on this machine (quiet, µs per 20 ms frame): far end to browser 32 (G.711
to 16 kHz) + 104 (Opus, narrowband at 16 kHz) against 5 + 97; browser to far end 16 + 35
against 15 + 5.

Like a relayed G.711 payload (``RtpLeg.relay_to``), nothing is buffered or concealed
here: a packet goes out the moment one comes in, and each end's own jitter buffer
re-times the stream and conceals what was lost. The only holding is of a part frame:
Opus takes whole 20 ms frames, so a far end sending 10 or 30 ms packets has its audio
regrouped in 20 ms packets.
"""

from __future__ import annotations

import ctypes

import numpy as np
import numpy.typing as npt

from gateway.pcm import FRAME_MS
from webrtc import libopus
from webrtc.decoding import g711_values
from webrtc.encoding import OPUS_BITRATE, g711_table

RATE = 8000  # G.711's, and the rate libopus codes at here
FRAME_SAMPLES = RATE * FRAME_MS // 1000
BROWSER_CLOCK = 48000  # Opus's RTP clock
_BROWSER_TICKS = BROWSER_CLOCK // RATE  # browser clock ticks per 8 kHz sample
_FRAME_BYTES = FRAME_SAMPLES * 2
_S16: dict[str, npt.NDArray[np.int16]] = {}


def library() -> ctypes.CDLL | None:
    """The system libopus, or ``None``: without it calls to Opus browsers are not
    relayed but go through the worker's 16 kHz audio (``webrtc/encoding.py``)."""
    return libopus.LIBOPUS


def _s16_values(codec_name: str) -> npt.NDArray[np.int16]:
    values = _S16.get(codec_name)
    if values is None:
        values = _S16[codec_name] = g711_values(codec_name).astype("<i2")
    return values


class NarrowbandOpus:
    """One call's transcoder, both ways (``codec_name``: ``pcm_mulaw`` or ``pcm_alaw``)."""

    browser_samples = FRAME_SAMPLES * _BROWSER_TICKS  # each Opus packet's length, 48 kHz

    def __init__(self, codec_name: str, lib: ctypes.CDLL) -> None:
        self.codec_name = codec_name
        self._to_g711 = g711_table(codec_name)
        self._from_g711 = _s16_values(codec_name)
        self._encoder = libopus.Encoder(lib, OPUS_BITRATE, libopus.NARROWBAND, rate=RATE)
        self._decoder = libopus.Decoder(lib, rate=RATE)
        self._pending = b""  # the far end's audio short of a whole frame, s16
        self._gap = 0  # 8 kHz samples skipped and not yet told

    def to_browser(self, g711: bytes, gap: int) -> list[tuple[bytes, int]]:
        """Opus packets for a far end's payload, each with the gap before it in the
        browser's clock; ``gap``: samples the far end skipped before this payload."""
        pcm = self._from_g711[np.frombuffer(g711, dtype=np.uint8)].tobytes()
        if gap > 0:
            # A part frame before a loss is lost with it: the timestamps stay true.
            self._gap += gap + len(self._pending) // 2
            self._pending = b""
        if self._pending:
            pcm = self._pending + pcm
        packets = []
        while len(pcm) >= _FRAME_BYTES:
            packets.append((self._encoder.encode(pcm[:_FRAME_BYTES]),
                            self._gap * _BROWSER_TICKS))
            self._gap = 0
            pcm = pcm[_FRAME_BYTES:]
        self._pending = pcm
        return packets

    def from_browser(self, opus: bytes) -> bytes:
        """The G.711 payload for a browser's Opus packet (as long as the packet: any
        length); ``libopus.OpusError`` for a corrupt one."""
        pcm = self._decoder.decode(opus)
        return self._to_g711[np.frombuffer(pcm, dtype="<i2").view(np.uint16)].tobytes()
