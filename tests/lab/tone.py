"""Test tones: write them as WAV, find them in received audio.

A sine at a known frequency on one side and a Goertzel detector on the other prove that
audio crossed a path, and which way: each side plays a different frequency.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt


def tone_samples(
    freq_hz: float, seconds: float, rate: int = 48000, amplitude: float = 0.3
) -> npt.NDArray[np.int16]:
    """A sine as 16-bit samples; amplitude is a fraction of full scale."""
    t = np.arange(round(seconds * rate)) / rate
    wave_f = amplitude * np.sin(2 * np.pi * freq_hz * t)
    return np.round(wave_f * 32767).astype(np.int16)


def write_tone_wav(
    path: str | Path,
    freq_hz: float = 1000,
    seconds: float = 2.0,
    rate: int = 48000,
    amplitude: float = 0.3,
) -> Path:
    """Write a 16-bit mono WAV sine (Chromium's fake mic loops it).

    With a whole number of periods in the file, the loop point has no click, which would
    otherwise smear energy across the spectrum once a second.
    """
    periods = max(1, round(freq_hz * seconds))
    seconds = periods / freq_hz
    samples = tone_samples(freq_hz, seconds, rate, amplitude)
    out = Path(path)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return out


def _as_float(samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        return arr.astype(np.float64) / 32768.0
    return arr.astype(np.float64)


def goertzel_power(samples: npt.ArrayLike, freq: float, rate: int) -> float:
    """Energy of `samples` at `freq`, scaled so a pure sine gives about its total energy.

    Goertzel is one DFT bin computed directly; cheaper than an FFT when we only ever
    ask about one or two frequencies.
    """
    x = _as_float(samples)
    n = len(x)
    if n == 0:
        return 0.0
    coeff = 2.0 * np.cos(2.0 * np.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x.tolist():  # plain floats: numpy scalars are much slower in a loop
        s0 = v + coeff * s1 - s2
        s2 = s1
        s1 = s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    # |X(k)|^2 of a sine of amplitude A is (A*n/2)^2, its energy is A^2*n/2; scale to match.
    return float(2.0 * power / n)


def tone_present(
    samples: npt.ArrayLike,
    rate: int,
    freq: float,
    min_ratio: float = 0.5,
    min_rms: float = 0.005,
    tolerance_hz: float = 25.0,
) -> bool:
    """True when most of the energy in `samples` lies within `tolerance_hz` of `freq`.

    Samples may be int16 or floats in [-1, 1]. The band (rather than one Goertzel bin)
    forgives the small frequency shifts that resampling and clock drift cause over a
    second of audio; a Hann window keeps a tone outside the band from leaking in.
    `min_rms` (fraction of full scale) makes silence and near-silence fail instead of
    dividing noise by noise.
    """
    x = _as_float(samples)
    if len(x) < rate // 50:  # under 20 ms there is no frequency resolution to speak of
        return False
    x = x - x.mean()
    if np.sqrt(np.mean(x * x)) < min_rms:
        return False
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    bins = np.fft.rfftfreq(len(x), 1.0 / rate)
    total = float(spectrum.sum())
    in_band = float(spectrum[np.abs(bins - freq) <= tolerance_hz].sum())
    return total > 0.0 and in_band / total >= min_ratio
