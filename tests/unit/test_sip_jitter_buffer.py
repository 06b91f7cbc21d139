"""The SIP leg's jitter-buffer settings: what Headset asks pjmedia for, and the bench's
override (sip_bridge/jitter_buffer.py)."""

from __future__ import annotations

import pjsua2 as pj
import pytest

from sip_bridge import jitter_buffer
from sip_bridge.jitter_buffer import HEADSET, PJMEDIA_DEFAULTS, JitterSettings


def test_headset_keeps_pjmedias_defaults() -> None:
    # A cap was measured to break the audio under load (see the module docstring).
    assert HEADSET == PJMEDIA_DEFAULTS == JitterSettings(-1, -1, -1, -1)
    assert pj.MediaConfig().jbMax == -1 and pj.MediaConfig().jbInit == -1


@pytest.mark.parametrize(("value", "expected"), [
    ("", HEADSET),
    ("pjmedia", PJMEDIA_DEFAULTS),
    ("0,20,40,60", JitterSettings(init=0, min_pre=20, max_pre=40, max=60)),
])
def test_the_benchmark_override(value: str, expected: JitterSettings) -> None:
    assert jitter_buffer.chosen({jitter_buffer.ENV: value}) == expected


def test_a_malformed_override_is_refused() -> None:
    with pytest.raises(ValueError):
        jitter_buffer.chosen({jitter_buffer.ENV: "20,40"})


def test_apply_sets_pjsua2_media_config() -> None:
    config = pj.MediaConfig()
    tried = JitterSettings(init=0, min_pre=20, max_pre=80, max=100)
    jitter_buffer.apply(config, tried)
    assert (config.jbInit, config.jbMinPre, config.jbMaxPre, config.jbMax) == (0, 20, 80, 100)
    assert jitter_buffer.chosen({jitter_buffer.ENV: str(tried)}) == tried
