"""What the stand-in browsers say: a steady 1 kHz tone under a speech-like voice.

Why not the tone alone: the gateway's Opus encoder spends what the audio asks of it,
and a pure tone is the cheapest thing it ever codes (libopus picks CELT for it, ~80-130
µs a frame here) while speech goes to SILK (~200-390 µs a frame, depending on the
complexity). A capacity measured on a tone would promise calls that speech can't get.

The voice is made, not recorded (nothing to ship, same every run): a glottal-like
harmonic series on a wandering pitch (95-165 Hz), shaped by three formants that move
from vowel to vowel every 120-260 ms, in syllables of 4-6 per second with pauses, band
limited to telephone speech (below 3.4 kHz: it comes back through G.711). The tone stays
on through every frame, pauses included, so a frame that comes back without it is still
a frame the gateway lost (``bench/frame_meter.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TONE_HZ = 1000.0
Floats = npt.NDArray[np.float64]

# (F1, F2, F3) in Hz for a few vowels (a, e, i, o, u), with their bandwidths.
_VOWELS = ((730.0, 1090.0, 2440.0), (530.0, 1840.0, 2480.0), (270.0, 2290.0, 3010.0),
           (570.0, 840.0, 2410.0), (300.0, 870.0, 2240.0))
_BANDWIDTHS = (90.0, 110.0, 170.0)
_TOP_HZ = 3400.0


def _formant_gain(freqs: Floats, formants: tuple[float, float, float]) -> Floats:
    gain = np.zeros_like(freqs)
    for centre, width in zip(formants, _BANDWIDTHS, strict=True):
        gain += 1.0 / (1.0 + ((freqs - centre) / (width / 2)) ** 2)
    return gain


def voice(seconds: float, rate: int, seed: int = 7) -> Floats:
    """Speech-like audio in [-1, 1], ``seconds`` long at ``rate`` Hz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    start = 0
    phase = 0.0
    while start < n:
        length = min(int(rng.uniform(0.12, 0.26) * rate), n - start)
        t = np.arange(length) / rate
        if rng.random() < 0.25:  # a pause between words
            start += length
            continue
        f0 = rng.uniform(95, 165) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
        phases = phase + np.cumsum(2 * np.pi * f0 / rate)
        phase = float(phases[-1])
        formants = _VOWELS[int(rng.integers(len(_VOWELS)))]
        segment = np.zeros(length)
        for k in range(1, int(_TOP_HZ // 95) + 1):
            freq = k * f0
            gain = _formant_gain(freq, formants) * (freq < _TOP_HZ) / k**0.5
            segment += gain * np.sin(k * phases)
        syllable = np.sin(np.pi * np.arange(length) / length) ** 2  # onset and decay
        out[start:start + length] = segment * syllable
        start += length
    peak = float(np.abs(out).max()) or 1.0
    return out / peak


def tone(seconds: float, rate: int) -> Floats:
    """The 1 kHz tone in [-1, 1]."""
    return np.sin(2 * np.pi * TONE_HZ * np.arange(int(seconds * rate)) / rate)


def spoken_tone(seconds: float, rate: int, tone_level: float,
                voice_level: float) -> npt.NDArray[np.int16]:
    """The tone at ``tone_level`` plus the voice at ``voice_level`` (of full scale), s16."""
    mix = tone_level * tone(seconds, rate) + voice_level * voice(seconds, rate)
    return np.clip(np.round(mix * 32767), -32768, 32767).astype(np.int16)
