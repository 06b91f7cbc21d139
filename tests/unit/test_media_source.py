"""Following a far end's RTP to where it really comes from (sip_bridge/media_source.py)."""

from __future__ import annotations

from sip_bridge.media_source import LATCH_AFTER, MediaSource

SDP = ("192.0.2.10", 4000)
NAT = ("198.51.100.7", 31000)


def _source() -> MediaSource:
    source = MediaSource()
    source.described(SDP)
    return source


def test_nothing_is_heard_before_an_sdp() -> None:
    assert not MediaSource().heard(SDP, True)
    assert MediaSource().target is None


def test_the_sdps_address_is_heard_and_is_where_media_goes() -> None:
    source = _source()
    assert source.heard(SDP, True) and source.target == SDP and not source.moved


def test_a_far_end_behind_nat_is_followed_after_its_probation() -> None:
    source = _source()
    heard = [source.heard(NAT, True) for _ in range(LATCH_AFTER)]
    assert heard == [False] * (LATCH_AFTER - 1) + [True]
    assert source.target == NAT and source.moved
    assert source.heard(NAT, True)
    assert not source.heard(SDP, True)  # the old address is now the stranger


def test_a_stranger_cannot_take_a_live_stream_over() -> None:
    source = _source()
    for _ in range(5 * LATCH_AFTER):
        assert not source.heard(NAT, True)
        assert source.heard(SDP, True)  # each of the far end's packets starts it over
    assert source.target == SDP


def test_only_rtp_counts_toward_a_probation() -> None:
    source = _source()
    assert not any(source.heard(NAT, False) for _ in range(3 * LATCH_AFTER))
    assert source.target == SDP


def test_another_port_on_the_same_host_is_heard_at_once_and_then_followed() -> None:
    source = _source()
    moved = (SDP[0], 4002)
    assert all(source.heard(moved, True) for _ in range(LATCH_AFTER))
    assert source.target == moved


def test_a_reinvite_naming_the_same_address_keeps_what_was_learnt() -> None:
    source = _source()
    for _ in range(LATCH_AFTER):
        source.heard(NAT, True)
    source.described(SDP)
    assert source.target == NAT
    source.described(("192.0.2.11", 4000))  # a new address: start over
    assert source.target == ("192.0.2.11", 4000)
