import pytest

from sip_bridge.socket_pacer import SocketPacer


def test_at_most_limit_turns_in_any_window() -> None:
    pacer = SocketPacer(limit=3, window=0.5)
    assert [pacer.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert not pacer.allow(0.49)
    assert pacer.allow(0.5)  # the first three have left the window
    assert pacer.allow(0.5) and pacer.allow(0.5)
    assert not pacer.allow(0.99)


def test_a_refused_turn_is_not_counted() -> None:
    pacer = SocketPacer(limit=1, window=1.0)
    assert pacer.allow(0.0)
    for t in (0.1, 0.2, 0.9):
        assert not pacer.allow(t)
    assert pacer.allow(1.0)


def test_wait_says_when_the_next_turn_comes() -> None:
    pacer = SocketPacer(limit=2, window=0.5)
    assert pacer.wait(0.0) == 0.0 and pacer.wait(0.1) == 0.0
    assert pacer.wait(0.2) == pytest.approx(0.3)  # when the turn taken at 0.0 leaves
    assert pacer.wait(0.5) == 0.0
    assert pacer.wait(0.55) == pytest.approx(0.05)


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (1, 0.0)])
def test_nonsense_settings_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        SocketPacer(limit, window)
