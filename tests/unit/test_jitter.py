from aiortc.rtp import RtpPacket

from webrtc.jitter import ReleaseOnArrivalBuffer


def packet(seq: int) -> RtpPacket:
    p = RtpPacket(sequence_number=seq & 0xFFFF, timestamp=seq * 960)
    p._data = bytes([seq & 0xFF])  # type: ignore[attr-defined]
    return p


def test_each_packet_is_released_on_arrival() -> None:
    buffer = ReleaseOnArrivalBuffer()
    for seq in range(5):
        pli, frame = buffer.add(packet(seq))
        assert not pli and frame is not None and frame.timestamp == seq * 960


def test_a_loss_costs_no_delay_afterwards() -> None:
    buffer = ReleaseOnArrivalBuffer()
    released = [buffer.add(packet(seq))[1] is not None for seq in (0, 1, 3, 4, 5)]
    assert released == [True] * 5  # aiortc's buffer would hold 3, 4, 5 waiting for 2
    assert buffer.lost == 1


def test_late_and_duplicate_packets_are_dropped() -> None:
    buffer = ReleaseOnArrivalBuffer()
    buffer.add(packet(10))
    buffer.add(packet(12))
    assert buffer.add(packet(11))[1] is None
    assert buffer.add(packet(12))[1] is None
    assert buffer.dropped_late == 2


def test_sequence_wraps_around() -> None:
    buffer = ReleaseOnArrivalBuffer()
    for seq in (65534, 65535, 0, 1):
        assert buffer.add(packet(seq))[1] is not None
    assert buffer.lost == 0
