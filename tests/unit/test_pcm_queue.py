from array import array

from hypothesis import given
from hypothesis import strategies as st

from gateway.pcm import CONCEAL_GAINS, PcmQueue, scaled
from gateway.playout import DepthPolicy


def frames(n: int) -> list[bytes]:
    return [bytes([i, 0]) * 2 for i in range(1, n + 1)]


def test_in_order_then_the_last_frame_fades_out_then_nothing() -> None:
    q = PcmQueue(3)
    for f in frames(2):
        q.push(f)
    got = [q.pop() for _ in range(2 + len(CONCEAL_GAINS) + 1)]
    assert got[:2] == frames(2)
    assert got[2:-1] == [scaled(frames(2)[1], g) for g in CONCEAL_GAINS]
    assert got[-1] is None


def test_an_empty_queue_that_never_had_a_frame_gives_none() -> None:
    assert PcmQueue(3).pop() is None


def test_concealment_fades() -> None:
    loud = (b"\x00\x40" + b"\x00\xc0") * 160  # +16384, -16384
    assert scaled(loud, 0.5)[:4] == b"\x00\x20\x00\xe0"
    assert scaled(loud, 1.0) is loud


def test_a_burst_drops_the_oldest_beyond_capacity() -> None:
    q = PcmQueue(3)
    for f in frames(5):
        q.push(f)
    assert q.waiting == 3
    assert q.pop() == frames(5)[2]


def test_a_standing_backlog_is_trimmed() -> None:
    q = PcmQueue(3)
    q.push(b"a")
    q.push(b"b")  # one frame too many, and it stays: producer and consumer in step
    for i in range(DepthPolicy.TRIM_AFTER - 1):
        q.push(bytes([i]))
        q.pop()
        assert q.waiting == 2
    q.push(b"x")
    q.pop()
    assert q.trimmed == 1 and q.waiting == 1  # back to the minimum delay


def test_watchers_hear_every_push_and_each_frame_wait() -> None:
    q = PcmQueue(3)
    woken: list[int] = []
    waits: list[float] = []
    q.watch(lambda: woken.append(q.waiting), waits.append)
    q.push(b"1")
    q.push(b"2")
    assert woken == [1, 2]
    q.pop()
    assert len(waits) == 1 and 0 <= waits[0] < 1
    q.watch(None)
    q.push(b"3")
    q.pop()
    assert woken == [1, 2] and len(waits) == 1


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=320),
       st.sampled_from((*CONCEAL_GAINS, 0.3, 1 / 3)))
def test_scaling_is_each_sample_times_the_gain_toward_zero(samples: list[int],
                                                           gain: float) -> None:
    frame = array("h", samples).tobytes()
    assert scaled(frame, gain) == array("h", [int(s * gain) for s in samples]).tobytes()
