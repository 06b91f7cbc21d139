"""The tone detector and the tone writers, without any network."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.lab.sipp import ulaw_encode
from tests.lab.tone import goertzel_power, tone_present, tone_samples, write_tone_wav

RATE = 16000


def test_silence_is_no_tone() -> None:
    assert not tone_present(np.zeros(RATE, np.int16), RATE, 1000)


def test_white_noise_is_no_tone() -> None:
    noise = np.random.default_rng(1).normal(0, 3000, RATE).astype(np.int16)
    assert not tone_present(noise, RATE, 1000)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_tone_is_found_at_its_frequency(rate: int) -> None:
    assert tone_present(tone_samples(1000, 1.0, rate), rate, 1000)


def test_other_tone_is_not_the_target() -> None:
    assert not tone_present(tone_samples(1500, 1.0, RATE), RATE, 1000)
    assert tone_present(tone_samples(1500, 1.0, RATE), RATE, 1500)


def test_tone_survives_noise_and_float_input() -> None:
    noisy = tone_samples(1000, 1.0, RATE) / 32768.0
    noisy = noisy + np.random.default_rng(2).normal(0, 0.05, RATE)
    assert tone_present(noisy, RATE, 1000)


def test_too_short_or_too_quiet_is_no_tone() -> None:
    assert not tone_present(tone_samples(1000, 0.01, RATE), RATE, 1000)
    assert not tone_present(tone_samples(1000, 1.0, RATE, amplitude=0.001), RATE, 1000)


def test_goertzel_power_matches_energy_of_a_sine() -> None:
    x = tone_samples(1000, 1.0, RATE, amplitude=0.5)
    energy = float(np.sum((x / 32768.0) ** 2))
    assert goertzel_power(x, 1000, RATE) == pytest.approx(energy, rel=0.01)
    assert goertzel_power(x, 1500, RATE) < energy * 1e-3


def test_wav_is_16_bit_mono_whole_periods(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "tone.wav", freq_hz=1000, seconds=2, rate=48000)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 48000)
        data = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    assert len(data) == 96000
    assert tone_present(data, 48000, 1000)


def test_ulaw_encodes_reference_points() -> None:
    # G.711: zero is 0xFF, full positive scale 0x80, full negative scale 0x00.
    assert ulaw_encode(np.array([0, 32767, -32768], np.int16)) == bytes([0xFF, 0x80, 0x00])
