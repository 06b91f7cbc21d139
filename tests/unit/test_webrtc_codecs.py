"""The line's own codecs: what reaches the browser decodes to what the call sent, and
the browser's packets reach the call as 16 kHz frames."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable

import av
import numpy as np
import pytest
from aiortc.codecs.g711 import PcmuEncoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from gateway.pcm import FRAME_BYTES, SAMPLE_RATE
from tests.lab.tone import tone_present, tone_samples
from tests.support.media_leg import QueueLeg
from webrtc import libopus
from webrtc.decoding import DecodeOnRelease, decoder_for
from webrtc.encoding import OPUS_BITRATE, OpusPackets, PacketEncoder, encoder_for
from webrtc.line import LineTrack

DECODERS = {"audio/opus": ("libopus", 48000), "audio/pcmu": ("pcm_mulaw", 8000),
            "audio/pcma": ("pcm_alaw", 8000)}


def _frames(samples: np.ndarray) -> list[bytes]:
    data = samples.astype("<i2").tobytes()
    return [data[i:i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)]


def _decoded(mime: str, payloads: list[bytes]) -> np.ndarray:
    name, rate = DECODERS[mime]
    decoder = av.CodecContext.create(name, "r")
    assert isinstance(decoder, av.AudioCodecContext)
    decoder.format = "s16"
    decoder.layout = "mono"
    decoder.sample_rate = rate
    pcm = b""
    for payload in payloads:
        for frame in decoder.decode(av.Packet(payload)):
            pcm += bytes(frame.planes[0])[: frame.samples * 2]
    return np.frombuffer(pcm, dtype="<i2")


@pytest.mark.parametrize("mime", sorted(DECODERS))
def test_a_tone_comes_out_of_the_decoder_one_packet_per_frame(mime: str) -> None:
    encoder = encoder_for(mime)
    assert encoder is not None
    payloads = [encoder.encode(f) for f in _frames(tone_samples(1000, 1.0, SAMPLE_RATE))]
    assert all(p for p in payloads), "no frame held back"
    if mime != "audio/opus":
        assert {len(p or b"") for p in payloads} == {160}  # 20 ms at 8 kHz
    heard = _decoded(mime, [p for p in payloads if p])
    rate = DECODERS[mime][1]
    assert tone_present(heard[rate // 2:], rate, 1000)


@pytest.mark.parametrize("mime", ["audio/pcmu", "audio/pcma"])
def test_g711_filters_out_what_would_fold_back_below_4_khz(mime: str) -> None:
    encoder = encoder_for(mime)
    assert encoder is not None
    # 6 kHz at 16 kHz, decimated without a low-pass, would be heard as 2 kHz.
    payloads = [encoder.encode(f) for f in _frames(tone_samples(6000, 0.5, SAMPLE_RATE))]
    heard = _decoded(mime, [p for p in payloads if p]).astype(float) / 32768
    assert np.sqrt(np.mean(heard[800:] ** 2)) < 0.003


def test_g711_full_scale_does_not_wrap_round() -> None:
    encoder = encoder_for("audio/pcmu")
    assert encoder is not None
    # A full-scale square wave makes the low-pass overshoot past int16.
    square = np.where((np.arange(SAMPLE_RATE // 2) // 80) % 2 == 0, 32767, -32768)
    heard = _decoded("audio/pcmu", [p for p in map(encoder.encode, _frames(square)) if p])
    # Half periods of 40 samples at 8 kHz, delayed ~8 by the filter: away from the
    # edges every sample keeps the sign it was sent with (a wrapped one flips).
    inner = np.array([i for i in range(200, len(heard)) if 12 < i % 40 < 38])
    sent_sign = np.where(((inner - 8) // 40) % 2 == 0, 1, -1)
    assert (np.sign(heard[inner].astype(int)) == sent_sign).all()


@pytest.mark.parametrize(("mime", "aiortc_encoder", "step"), [
    ("audio/opus", OpusEncoder, 960), ("audio/PCMU", PcmuEncoder, 160)])
async def test_the_track_hands_aiortc_packets_it_only_packs(
        mime: str, aiortc_encoder: type[OpusEncoder | PcmuEncoder], step: int) -> None:
    track = LineTrack()
    track.encode_as(mime)
    track.leg = QueueLeg(_frames(tone_samples(1000, 0.1, SAMPLE_RATE)))
    track.active.set()
    got = [await asyncio.wait_for(track.recv(), 5) for _ in range(4)]
    assert all(isinstance(p, av.Packet) for p in got)
    packer = aiortc_encoder()
    stamps = []
    for packet in got:
        assert isinstance(packet, av.Packet)
        payloads, timestamp = packer.pack(packet)
        assert payloads == [bytes(packet)]
        stamps.append(timestamp)
    assert stamps == [0, step, 2 * step, 3 * step]
    assert got[0].time_base == fractions.Fraction(1, 48000 if step == 960 else 8000)
    track.stop()


# -- the other way: the browser's packets decoded straight to the worker's PCM ---------


@pytest.mark.parametrize("mime", sorted(DECODERS))
def test_what_the_line_encodes_the_line_decodes_to_16k_frames(mime: str) -> None:
    encoder, decoder = encoder_for(mime), decoder_for(mime)
    assert encoder is not None and decoder is not None
    sent = tone_samples(1000, 1.0, SAMPLE_RATE)
    pcm = b"".join(decoder.decode(p) for p in map(encoder.encode, _frames(sent)) if p)
    assert len(pcm) == len(sent) * 2  # every 20 ms packet gives 20 ms at 16 kHz
    heard = np.frombuffer(pcm, dtype="<i2")[SAMPLE_RATE // 2:]
    assert tone_present(heard, SAMPLE_RATE, 1000)
    level = np.sqrt(np.mean(heard.astype(float) ** 2) / np.mean(sent.astype(float) ** 2))
    assert 0.8 < level < 1.2


class _Released:
    """A receive buffer that releases every packet."""

    def release(self, seq: int, timestamp: int, data: bytes) -> JitterFrame | None:
        return JitterFrame(data=data, timestamp=timestamp)


def _packets(mime: str, pt: int) -> list[RtpPacket]:
    encoder = encoder_for(mime)
    assert encoder is not None
    out = []
    for i, frame in enumerate(_frames(tone_samples(1000, 0.2, SAMPLE_RATE))):
        packet = RtpPacket(payload_type=pt, sequence_number=i, timestamp=i * 960)
        packet.payload = encoder.encode(frame) or b""
        packet._data = packet.payload  # type: ignore[attr-defined]  # as aiortc depayloads
        out.append(packet)
    return out


def test_released_packets_reach_the_call_as_frames_and_aiortc_gets_none() -> None:
    buffer = DecodeOnRelease(_Released(), {111: "audio/opus"}.get)
    heard: list[bytes] = []
    packets = _packets("audio/opus", 111)
    assert [buffer.add(p) for p in packets[:3]] == [(False, None)] * 3  # no call: skipped
    assert heard == []
    buffer.deliver = heard.append
    assert all(buffer.add(p) == (False, None) for p in packets[3:])
    assert len(heard) == len(packets) - 3
    assert {len(f) for f in heard} == {FRAME_BYTES}
    # A payload type it does not decode goes on to aiortc's decoder as before.
    odd = RtpPacket(payload_type=96, sequence_number=99, timestamp=0)
    odd.payload = odd._data = b"\x01\x02"  # type: ignore[attr-defined]
    _, frame = buffer.add(odd)
    assert frame is not None and frame.data == b"\x01\x02"


def test_without_a_system_libopus_av_encodes_the_same_way() -> None:
    encoder = OpusPackets()  # the fallback when webrtc.libopus finds no library
    payloads = [encoder.encode(f) for f in _frames(tone_samples(1000, 1.0, SAMPLE_RATE))]
    assert all(payloads)
    heard = _decoded("audio/opus", [p for p in payloads if p])
    assert tone_present(heard[24000:], 48000, 1000)


def test_opus_goes_out_at_the_bitrate_asked_for() -> None:
    encoder = encoder_for("audio/opus")
    assert encoder is not None
    payloads = [encoder.encode(f) for f in _frames(tone_samples(1000, 1.0, SAMPLE_RATE))]
    # 32 kbit/s is 80 bytes a packet; libopus's own default here would be ~47.
    mean = sum(len(p or b"") for p in payloads) / len(payloads)
    assert abs(mean * 8 * 50 - OPUS_BITRATE) < 0.2 * OPUS_BITRATE, mean


def test_opus_is_encoded_at_the_gateway_s_complexity_not_libopus_s_default() -> None:
    if libopus.LIBOPUS is None:
        pytest.skip("no system libopus (Debian libopus0)")
    encoder = libopus.Encoder(libopus.LIBOPUS, OPUS_BITRATE)
    # libopus alone would use 10, at about twice the CPU a frame on speech.
    assert encoder.complexity() == libopus.COMPLEXITY == 5
    # ...and the audio still carries: a tone through it is heard.
    payloads = [encoder.encode(f) for f in _frames(tone_samples(1000, 1.0, SAMPLE_RATE))]
    assert tone_present(_decoded("audio/opus", payloads)[24000:], 48000, 1000)


@pytest.mark.parametrize("make", [lambda wb: encoder_for("audio/opus", wb),
                                  lambda wb: OpusPackets(wb)], ids=["libopus", "av"])
def test_opus_keeps_6_khz_only_when_the_far_end_can_send_it(
        make: Callable[[bool], PacketEncoder | None]) -> None:
    both = tone_samples(1000, 1.0, SAMPLE_RATE) // 2 + tone_samples(6000, 1.0, SAMPLE_RATE) // 2
    heard = {}
    for wideband in (True, False):
        encoder = make(wideband)
        assert encoder is not None
        payloads = [encoder.encode(f) for f in _frames(both)]
        heard[wideband] = _decoded("audio/opus", [p for p in payloads if p])[24000:]
    # Speech (here 1 kHz) is heard either way; 6 kHz only where G.722 could bring it.
    # Each tone is half the signal: "present" here is a third of the energy or more.
    for wideband in (True, False):
        assert tone_present(heard[wideband], 48000, 1000, min_ratio=0.3)
    assert tone_present(heard[True], 48000, 6000, min_ratio=0.3)
    assert not tone_present(heard[False], 48000, 6000, min_ratio=0.05)


def test_narrowband_opus_is_what_libopus_holds() -> None:
    if libopus.LIBOPUS is None:
        pytest.skip("no system libopus (Debian libopus0)")
    for band in (libopus.NARROWBAND, libopus.WIDEBAND):
        assert libopus.Encoder(libopus.LIBOPUS, OPUS_BITRATE, band).max_bandwidth() == band
