"""How much pjmedia's receive jitter buffer on the SIP leg may hold, and how to try other
settings in a benchmark.

pjmedia's adaptive jitter buffer lets its delay follow the longest *burst* it has seen
(the most RTP packets put between two reads of the conference clock): a stall raises the
burst level at once, and it comes back down a frame at a time over seconds. On a busy
machine that is most of the delay toward the browser that the worker's own stages do not
explain.

Capping it was measured (``python -m bench.latency --sip-jb 0,20,80,100``: a second
gateway with pjmedia's defaults carries a second call and the two calls' bursts are
interleaved, so both see the same load). At load 20-25, capacity 100 ms and no prefetch
took the down p50 from 191/217 ms (pjmedia's defaults, no loss / 1 % uplink loss) to
86/117 ms. But what a full buffer pushes out is audio: in the page-navigation test at
load 15-17 the browser heard breaks of 180-580 ms while pages changed, against 10 ms
with the defaults in the runs between them, and once did not hear the far end at all
within 8 s. A late frame that pjmedia keeps is re-timed by the browser's own jitter
buffer (NetEq stretches time); a dropped one is gone. So Headset keeps pjmedia's
defaults until a quiet-machine run shows a setting that costs no continuity.

``HEADSET_SIP_JB`` (read by each line worker's engine when it starts) overrides them:
``INIT,MIN_PRE,MAX_PRE,MAX`` in ms, each -1 for pjmedia's default, or ``pjmedia``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV = "HEADSET_SIP_JB"


@dataclass(frozen=True)
class JitterSettings:
    """pjsua2 ``MediaConfig`` jitter-buffer fields, in ms (-1: pjmedia's default)."""

    init: int
    min_pre: int
    max_pre: int
    max: int

    def __str__(self) -> str:
        return f"{self.init},{self.min_pre},{self.max_pre},{self.max}"


PJMEDIA_DEFAULTS = JitterSettings(init=-1, min_pre=-1, max_pre=-1, max=-1)
HEADSET = PJMEDIA_DEFAULTS  # a cap was measured to cost breaks (see module docstring)


def chosen(environ: Mapping[str, str] | None = None) -> JitterSettings:
    """Headset's settings, or the benchmark override in ``HEADSET_SIP_JB``."""
    value = (environ if environ is not None else os.environ).get(ENV, "").strip()
    if not value:
        return HEADSET
    if value == "pjmedia":
        return PJMEDIA_DEFAULTS
    init, min_pre, max_pre, most = (int(part) for part in value.split(","))
    return JitterSettings(init=init, min_pre=min_pre, max_pre=max_pre, max=most)


def apply(media_config: object, settings: JitterSettings) -> None:
    """Set the fields on a pjsua2 ``MediaConfig`` (before ``libInit``)."""
    media_config.jbInit = settings.init  # type: ignore[attr-defined]
    media_config.jbMinPre = settings.min_pre  # type: ignore[attr-defined]
    media_config.jbMaxPre = settings.max_pre  # type: ignore[attr-defined]
    media_config.jbMax = settings.max  # type: ignore[attr-defined]
