"""The load clients' stimulus: a voice over the tone, the tone found in every frame."""

from __future__ import annotations

import numpy as np

from bench import stimulus
from bench.lean_rtp import ToneCheck
from bench.load_client import AMPLITUDE, TONE_FRACTION, TONE_HZ, VOICE_LEVEL

THRESHOLD = TONE_FRACTION * AMPLITUDE / 32768


def _frames(pcm: np.ndarray) -> list[np.ndarray]:
    return [pcm[i:i + 320] for i in range(0, len(pcm) - 319, 320)]


def _level(frame: np.ndarray) -> float:
    basis = np.exp(-2j * np.pi * TONE_HZ * np.arange(len(frame)) / 16000)
    return float(2 * abs(np.dot(frame / 32768, basis)) / len(frame))


def test_the_tone_is_in_every_frame_and_the_voice_alone_never_passes_for_it() -> None:
    mixed = stimulus.spoken_tone(5.0, 16000, AMPLITUDE / 32767, VOICE_LEVEL / 32767)
    voice = stimulus.spoken_tone(5.0, 16000, 0.0, VOICE_LEVEL / 32767)
    assert min(_level(f) for f in _frames(mixed)) > 2 * THRESHOLD
    assert max(_level(f) for f in _frames(voice)) < 0.75 * THRESHOLD


def test_the_voice_speaks_and_pauses_in_the_telephone_band() -> None:
    voice = stimulus.voice(5.0, 16000)
    loud = [float(np.sqrt(np.mean(f * f))) for f in _frames(voice)]
    assert sum(x > 0.02 for x in loud) > 0.4 * len(loud)  # much of it talking...
    assert sum(x == 0 for x in loud) > len(loud) / 20  # ...with pauses
    spectrum = np.abs(np.fft.rfft(voice)) ** 2
    freqs = np.fft.rfftfreq(len(voice), 1 / 16000)
    assert spectrum[freqs > 3600].sum() < 0.01 * spectrum.sum()
    assert np.abs(voice).max() <= 1.0


def test_the_stimulus_is_the_same_every_run() -> None:
    assert np.array_equal(stimulus.voice(1.0, 8000), stimulus.voice(1.0, 8000))


def test_an_encoded_frame_of_the_mixed_stimulus_is_heard_as_the_tone() -> None:
    from bench.load_client import encoded_tone

    check = ToneCheck("pcmu", TONE_HZ, THRESHOLD)
    assert all(check(p) for p in encoded_tone("pcmu", 100))
