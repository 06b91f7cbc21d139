"""The browser leg's encoders, run by the line's own track so aiortc only packs packets.

Why not let aiortc encode: handed an ``av.AudioFrame``, its sender computes the frame's
audio level in Python (for an RTP header extension nobody here reads), then hops to the
default thread pool to encode, once per 20 ms frame per call, and its encoders first
resample to the codec's own rate (Opus: 48 kHz stereo). py-spy on a worker with two
Opus calls put those at about a quarter of the worker's busy time. Handed an
``av.Packet``, aiortc only packs it, on the event loop (see ``LineTrack.recv``).

- **Opus**: libopus takes the worker's 16 kHz mono as it is (the RTP clock stays 48 kHz
  whatever the input rate), so nothing is resampled and it encodes one channel at a
  third of the rate: ~190 µs a frame through av against ~350 µs at 48 kHz stereo, and
  ~100 µs calling the system libopus directly (``webrtc/libopus.py``; av is the
  fallback). 32 kbit/s is
  plenty for wideband speech (aiortc sent 96 kbit/s of stereo made from a mono 16 kHz
  source).
- **G.711**: 16 -> 8 kHz with a short windowed-sinc low-pass and every other sample
  (numpy, the filter's tail carried across frames so frame edges do not click), then a
  64 Ki-entry table from s16 to the G.711 byte. The table is made once by ffmpeg's own
  encoder, so the coding is exactly what aiortc's encoder produced.
"""

from __future__ import annotations

import ctypes
import fractions
from typing import Protocol

import av
import numpy as np
import numpy.typing as npt

from gateway.pcm import SAMPLE_RATE, SAMPLES_PER_FRAME
from webrtc import libopus

OPUS_BITRATE = 32000
G711_RATE = 8000
# Low-pass for 16 -> 8 kHz: passes speech (to ~3.4 kHz), stops what would fold back
# below 4 kHz. 31 taps delay the audio by 15 samples at 16 kHz (under 1 ms).
LOWPASS_TAPS = 31
_CUTOFF_HZ = 3600


class PacketEncoder(Protocol):
    """Turns one 20 ms frame of the worker's PCM into one RTP payload."""

    clock_rate: int  # the codec's RTP clock
    samples: int  # RTP timestamp units per frame

    def encode(self, pcm: bytes) -> bytes | None:
        """The payload for ``pcm``, or ``None`` if the encoder holds it back."""
        ...


class OpusPackets:
    clock_rate = 48000
    samples = 48000 * SAMPLES_PER_FRAME // SAMPLE_RATE

    def __init__(self, wideband: bool = True) -> None:
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.bit_rate = OPUS_BITRATE
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
        codec.options = {"application": "voip",
                         "compression_level": str(libopus.COMPLEXITY),
                         # ffmpeg's libopus wrapper turns a cutoff into the max bandwidth.
                         "cutoff": "8000" if wideband else "4000"}
        self._codec = codec
        self._pts = 0

    def encode(self, pcm: bytes) -> bytes | None:
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
        frame.planes[0].update(pcm)
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = self._codec.time_base
        frame.pts = self._pts
        self._pts += SAMPLES_PER_FRAME
        packets = self._codec.encode(frame)
        if not packets:
            return None
        return b"".join(bytes(p) for p in packets)


def _g711_table(codec_name: str) -> npt.NDArray[np.uint8]:
    """``table[s16 value viewed as u16]`` = that value's G.711 byte, from ffmpeg's encoder."""
    values = np.arange(-32768, 32768, dtype=np.int16)
    codec = av.CodecContext.create(codec_name, "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = G711_RATE
    codec.time_base = fractions.Fraction(1, G711_RATE)
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(values))
    frame.planes[0].update(values.tobytes())
    frame.sample_rate = G711_RATE
    frame.pts = 0
    coded = b"".join(bytes(p) for p in codec.encode(frame))
    coded += b"".join(bytes(p) for p in codec.encode(None))
    if len(coded) != len(values):
        raise RuntimeError(f"{codec_name}: {len(coded)} bytes for {len(values)} samples")
    table = np.empty(65536, dtype=np.uint8)
    table[values.view(np.uint16)] = np.frombuffer(coded, dtype=np.uint8)
    return table


def lowpass() -> npt.NDArray[np.float32]:
    """Windowed-sinc low-pass at 16 kHz for 16 <-> 8 kHz (unity gain at 0 Hz)."""
    n = np.arange(LOWPASS_TAPS) - (LOWPASS_TAPS - 1) / 2
    cut = _CUTOFF_HZ / SAMPLE_RATE  # cycles per sample
    taps = 2 * cut * np.sinc(2 * cut * n) * np.hamming(LOWPASS_TAPS)
    return (taps / taps.sum()).astype(np.float32)


_LOWPASS = lowpass()
_TABLES: dict[str, npt.NDArray[np.uint8]] = {}  # made on first use, then shared


def g711_table(codec_name: str) -> npt.NDArray[np.uint8]:
    """``table[s16 value viewed as u16]`` = its G.711 byte (``pcm_mulaw``/``pcm_alaw``)."""
    table = _TABLES.get(codec_name)
    if table is None:
        table = _TABLES[codec_name] = _g711_table(codec_name)
    return table


class G711Packets:
    clock_rate = G711_RATE
    samples = G711_RATE * SAMPLES_PER_FRAME // SAMPLE_RATE

    def __init__(self, codec_name: str) -> None:
        self._table = g711_table(codec_name)
        self._tail = np.zeros(LOWPASS_TAPS - 1, dtype=np.float32)

    def encode(self, pcm: bytes) -> bytes | None:
        window = np.concatenate((self._tail, np.frombuffer(pcm, dtype="<i2")))
        self._tail = window[-(LOWPASS_TAPS - 1):]
        filtered = np.rint(np.convolve(window, _LOWPASS, mode="valid")[::2])
        # The filter can overshoot full scale a little; int16 would wrap round.
        s16 = np.maximum(np.minimum(filtered, 32767), -32768).astype(np.int16)
        return bytes(self._table[s16.view(np.uint16)].data)


class LibopusPackets:
    clock_rate = 48000
    samples = 48000 * SAMPLES_PER_FRAME // SAMPLE_RATE

    def __init__(self, lib: ctypes.CDLL, wideband: bool = True) -> None:
        band = libopus.WIDEBAND if wideband else libopus.NARROWBAND
        self._encoder = libopus.Encoder(lib, OPUS_BITRATE, band)

    def encode(self, pcm: bytes) -> bytes | None:
        return self._encoder.encode(pcm)


def encoder_for(mime_type: str, wideband: bool = True) -> PacketEncoder | None:
    """The encoder for a negotiated codec, or ``None`` to let aiortc encode frames.

    ``wideband=False`` when the far end can only have sent telephone-band audio (every
    SIP codec allowed is G.711): Opus then codes 4 kHz of audio, not 8, at about half
    the CPU a frame (~110 against ~200 µs on speech here), and loses nothing that was
    there to hear."""
    mime = mime_type.lower()
    if mime == "audio/opus":
        lib = libopus.LIBOPUS
        if lib is None:
            return OpusPackets(wideband)
        return LibopusPackets(lib, wideband)
    if mime == "audio/pcmu":
        return G711Packets("pcm_mulaw")
    if mime == "audio/pcma":
        return G711Packets("pcm_alaw")
    return None
