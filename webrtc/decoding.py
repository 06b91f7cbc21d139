"""The browser's audio decoded as each packet is released, straight to the worker's PCM.

Why not aiortc's decoder: it hands every released packet to a decoder thread (a
``queue.Queue`` hop), decodes Opus to 48 kHz stereo, and hands each frame back with
``asyncio.run_coroutine_threadsafe`` (a coroutine, a task and a loop wake-up per 20 ms
frame), after which the line resampled 48 kHz stereo to 16 kHz mono. py-spy put that
round trip at about a fifth of a worker's busy time.

Here the receive buffer's released packet is decoded on the event loop, at once, at the
worker's own format: libopus (``webrtc/libopus.py``) decodes to 16 kHz mono natively,
~30 µs a packet, with nothing to resample (without a system libopus, aiortc decodes);
G.711 is a 256-entry table (made by ffmpeg's own decoder) and 8 -> 16 kHz by
zero-stuffing and the same low-pass as the encoder. The buffer then reports the packet
as consumed, so aiortc's decoder thread stays idle.

Losses are not concealed here: the call's PCM queue does that (gateway/pcm.py), as it
did when aiortc decoded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import av
import numpy as np
import numpy.typing as npt
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from gateway.pcm import FRAME_BYTES
from webrtc import libopus
from webrtc.encoding import G711_RATE, LOWPASS_TAPS, lowpass


class PacketDecoder(Protocol):
    def decode(self, payload: bytes) -> bytes:
        """The payload's audio as 16 kHz mono s16 (any length, possibly empty)."""
        ...


def _g711_values(codec_name: str) -> npt.NDArray[np.float32]:
    """``values[byte]`` = the linear sample that G.711 byte stands for, from ffmpeg."""
    codec = av.CodecContext.create(codec_name, "r")
    assert isinstance(codec, av.AudioCodecContext)
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = G711_RATE
    pcm = b"".join(bytes(f.planes[0])[: f.samples * 2]
                   for f in codec.decode(av.Packet(bytes(range(256)))))
    values = np.frombuffer(pcm, dtype="<i2")
    if len(values) != 256:
        raise RuntimeError(f"{codec_name}: {len(values)} samples for 256 bytes")
    return values.astype(np.float32)


_UPSAMPLE = (2 * lowpass()).astype(np.float32)  # zero-stuffing halves the level
_VALUES: dict[str, npt.NDArray[np.float32]] = {}


def g711_values(codec_name: str) -> npt.NDArray[np.float32]:
    """``values[byte]`` = the linear sample a G.711 byte stands for (made once, shared)."""
    values = _VALUES.get(codec_name)
    if values is None:
        values = _VALUES[codec_name] = _g711_values(codec_name)
    return values


class G711ToPcm:
    def __init__(self, codec_name: str) -> None:
        self._values = g711_values(codec_name)
        self._tail = np.zeros(LOWPASS_TAPS - 1, dtype=np.float32)

    def decode(self, payload: bytes) -> bytes:
        narrow = self._values[np.frombuffer(payload, dtype=np.uint8)]
        wide = np.zeros(len(narrow) * 2 + LOWPASS_TAPS - 1, dtype=np.float32)
        wide[: LOWPASS_TAPS - 1] = self._tail
        wide[LOWPASS_TAPS - 1::2] = narrow
        self._tail = wide[-(LOWPASS_TAPS - 1):]
        filtered = np.rint(np.convolve(wide, _UPSAMPLE, mode="valid"))
        return np.maximum(np.minimum(filtered, 32767), -32768).astype("<i2").tobytes()


def decoder_for(mime_type: str) -> PacketDecoder | None:
    mime = mime_type.lower()
    if mime == "audio/opus":
        return libopus.Decoder(libopus.LIBOPUS) if libopus.LIBOPUS is not None else None
    if mime == "audio/pcmu":
        return G711ToPcm("pcm_mulaw")
    if mime == "audio/pcma":
        return G711ToPcm("pcm_alaw")
    return None


class ReceiveBuffer(Protocol):
    def release(self, seq: int, timestamp: int, data: bytes) -> JitterFrame | None:
        """The packet's frame if the buffer releases it now, else ``None``."""
        ...


class DecodeOnRelease:
    """Stands in for an aiortc receiver's jitter buffer: ``buffer`` decides which
    packets to release; each released packet is decoded here and its audio handed to
    ``deliver`` in whole 20 ms frames, and aiortc is told nothing was released.

    ``codec_of(payload_type)`` names the negotiated codec (a MIME type), looked up when
    a payload type is first seen (packets can arrive before the answer is applied).
    With ``deliver`` unset (no call on the line) packets are not decoded at all.
    ``record("up.decode", seconds)`` is told each packet's decoding time (media timing).
    """

    capacity = 1  # read by aiortc's receiver

    def __init__(self, buffer: ReceiveBuffer, codec_of: Callable[[int], str | None]) -> None:
        self.deliver: Callable[[bytes], None] | None = None
        # ``relay(payload)`` takes a released packet as it is, when the far end uses the
        # browser's codec (``True``: nothing to decode); see sip_bridge/rtp_leg.py.
        self.relay: Callable[[bytes], bool] | None = None
        self.record: Callable[[str, float], None] | None = None
        self._buffer = buffer
        self._codec_of = codec_of
        self._decoders: dict[int, PacketDecoder | None] = {}
        self._pending = b""

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        data: bytes = packet._data  # type: ignore[attr-defined]  # set by aiortc's depayloader
        frame = self._buffer.release(packet.sequence_number, packet.timestamp, data)
        if frame is None:
            return False, None
        decoder = self._decoder(packet.payload_type)
        if decoder is None:
            return False, frame  # not a codec we decode: aiortc's decoder takes it
        self._decode(decoder, data)
        return False, None

    def decodes(self, payload_type: int) -> bool:
        """Whether packets of ``payload_type`` are decoded here (else by aiortc)."""
        return self._decoder(payload_type) is not None

    def receive(self, payload_type: int, seq: int, timestamp: int, payload: bytes) -> None:
        """``add`` for the fast path (``webrtc/rtp_fast_path.py``), without an
        ``RtpPacket``: only for a payload type that this ``decodes``."""
        if self._buffer.release(seq, timestamp, payload) is not None:
            relay = self.relay
            if relay is not None and relay(payload):
                return
            decoder = self._decoders[payload_type]
            assert decoder is not None
            self._decode(decoder, payload)

    def _decoder(self, payload_type: int) -> PacketDecoder | None:
        if payload_type not in self._decoders:
            mime = self._codec_of(payload_type)
            self._decoders[payload_type] = decoder_for(mime) if mime else None
        return self._decoders[payload_type]

    def _decode(self, decoder: PacketDecoder, payload: bytes) -> None:
        deliver = self.deliver
        if deliver is None:
            self._pending = b""
            return
        record = self.record
        started = time.monotonic() if record is not None else 0.0
        try:
            pcm = decoder.decode(payload)
        except (av.FFmpegError, libopus.OpusError):
            return  # a corrupt packet is a lost one (the PCM queue conceals)
        pending = self._pending + pcm if self._pending else pcm
        while len(pending) >= FRAME_BYTES:
            deliver(pending[:FRAME_BYTES])
            pending = pending[FRAME_BYTES:]
        self._pending = pending
        if record is not None:
            record("up.decode", time.monotonic() - started)


def install(receiver: object, buffer: DecodeOnRelease) -> None:
    """Put ``buffer`` in an aiortc audio receiver's jitter buffer's place."""
    attribute = "_RTCRtpReceiver__jitter_buffer"  # private: aiortc offers no hook
    if not hasattr(receiver, attribute):
        raise RuntimeError("this aiortc version has no audio jitter buffer to replace")
    setattr(receiver, attribute, buffer)
