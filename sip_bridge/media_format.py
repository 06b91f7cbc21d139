"""pjmedia's description of the worker's PCM format (see gateway/pcm.py)."""

from __future__ import annotations

import pjsua2 as pj

from gateway.pcm import FRAME_MS, SAMPLE_RATE


def audio_format() -> pj.MediaFormatAudio:
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE, 1, FRAME_MS * 1000, 16)
    return fmt
