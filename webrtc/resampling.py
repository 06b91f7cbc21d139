"""Resampling that hands on whole 20 ms frames the moment they are complete.

Why it matters: a resampler's first output falls a few samples short of a frame (its
filter delay). Code that waits for a whole frame then holds every frame back until the
next one's first samples arrive: 20 ms more delay for the rest of the call. That
happened twice on a bridged call: 48 kHz from the browser to the worker's 16 kHz, and
16 kHz to the browser's codec inside aiortc's encoder (now the line encodes itself,
without resampling for Opus: webrtc/encoding.py).
"""

from __future__ import annotations

import av


class Aligner:
    """Resamples PCM to whole frames of a given rate and layout, none held back.

    A resampler's first output is short by its filter delay; if the short piece waited
    for the next one to make a whole frame, every frame after it would be late by most
    of a frame. The short piece is padded with silence at the front instead, once.
    """

    def __init__(self, rate: int, layout: str, samples: int) -> None:
        self._resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        self.rate = rate
        self.layout = layout
        self.samples = samples
        self._bytes = samples * 2 * (2 if layout == "stereo" else 1)
        self._pending = bytearray()
        self._primed = False

    def convert(self, frame: av.AudioFrame) -> list[bytes]:
        """Whole output frames (bytes) from one input frame."""
        for out in self._resampler.resample(frame):
            # Planes are padded: take only the real samples.
            channels = 2 if self.layout == "stereo" else 1
            self._pending += bytes(out.planes[0])[: out.samples * 2 * channels]
        if not self._primed and self._pending:
            self._primed = True
            short = -len(self._pending) % self._bytes
            self._pending[:0] = bytes(short)
        whole = len(self._pending) // self._bytes * self._bytes
        if not whole:
            return []
        chunks = [bytes(self._pending[i:i + self._bytes]) for i in range(0, whole, self._bytes)]
        del self._pending[:whole]
        return chunks
