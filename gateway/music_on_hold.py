"""Music on hold: what a caller hears while the agent has them on hold.

A calm, slowly swelling A (440 Hz with a soft octave), rendered once into 20 ms frames
of the worker's PCM format and looped; one swell per loop, so the loop is seamless. A
deployment that wants real music can replace ``frames()``; the playing is the same.
"""

from __future__ import annotations

import array
import math
from functools import cache

from gateway.pcm import FRAME_BYTES, SAMPLE_RATE, SAMPLES_PER_FRAME
from webrtc.line import MediaLeg
from webrtc.pacing import Pacer

LOOP_SECONDS = 4
NOTE_HZ = 440.0
PEAK = 6000  # about -15 dBFS: clearly audible, never harsh


@cache
def frames() -> tuple[bytes, ...]:
    samples = array.array("h")
    for i in range(SAMPLE_RATE * LOOP_SECONDS):
        t = i / SAMPLE_RATE
        swell = 0.55 - 0.45 * math.cos(2 * math.pi * t / LOOP_SECONDS)
        tone = 0.8 * math.sin(2 * math.pi * NOTE_HZ * t) + 0.2 * math.sin(
            4 * math.pi * NOTE_HZ * t)
        samples.append(int(PEAK * swell * tone))
    data = samples.tobytes()
    return tuple(data[i:i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES))


async def play(leg: MediaLeg) -> None:
    """Push music into ``leg`` in real time until cancelled."""
    loop = frames()
    pacer = Pacer(SAMPLE_RATE)
    index = 0
    while True:
        await pacer.next_pts(SAMPLES_PER_FRAME)
        leg.push(loop[index % len(loop)])
        index += 1
