from gateway.pcm import PcmQueue


def frames(n: int) -> list[bytes]:
    return [bytes([i]) * 4 for i in range(n)]


def test_in_order_and_empty_gives_none() -> None:
    q = PcmQueue(3)
    for f in frames(2):
        q.push(f)
    assert [q.pop(), q.pop(), q.pop()] == [*frames(2), None]


def test_a_burst_drops_the_oldest_beyond_capacity() -> None:
    q = PcmQueue(3)
    for f in frames(5):
        q.push(f)
    assert q.waiting == 3
    assert q.pop() == frames(5)[2]


def test_a_standing_backlog_is_trimmed_after_a_second() -> None:
    q = PcmQueue(3)
    q.push(b"a")
    q.push(b"b")  # one frame too many, and it stays: producer and consumer in step
    for i in range(PcmQueue.TRIM_AFTER_PULLS - 1):
        q.push(bytes([i]))
        q.pop()
        assert q.waiting == 2
    q.push(b"x")
    q.pop()
    assert q.trimmed == 1 and q.waiting == 1  # back to the minimum delay


def test_jitter_that_empties_the_queue_is_not_trimmed() -> None:
    q = PcmQueue(3)
    for _ in range(5 * PcmQueue.TRIM_AFTER_PULLS):
        q.push(b"1")
        q.push(b"2")
        q.pop()
        q.pop()
        q.pop()  # an empty pull now and then: no standing backlog
    assert q.trimmed == 0
