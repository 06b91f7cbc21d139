import pjsua2 as pj
from hypothesis import given
from hypothesis import strategies as st

from sip_bridge.frame_bytes import FrameVector, _contiguous_copy, _element_copy, vector_bytes


def test_the_fast_copy_is_in_use_here() -> None:
    # If this fails the library layout changed: audio still works, at ~1 ms per frame.
    assert vector_bytes is _contiguous_copy


@given(st.binary(max_size=2000))
def test_fast_copy_equals_the_slow_one(data: bytes) -> None:
    vector = pj.ByteVector(data)
    assert vector_bytes(vector) == _element_copy(vector) == data


def test_a_frame_buffer_reads_back() -> None:
    frame = pj.MediaFrame()
    frame.buf = pj.ByteVector(b"\x01\x02" * 320)
    assert vector_bytes(frame.buf) == b"\x01\x02" * 320


@given(st.lists(st.binary(min_size=640, max_size=640), min_size=1, max_size=5),
       st.binary(max_size=700))
def test_a_refilled_frame_vector_hands_each_frame_on_whole(frames: list[bytes],
                                                           odd: bytes) -> None:
    vector = FrameVector(640)
    frame = pj.MediaFrame()
    for data in frames:
        frame.buf = vector.holding(data)
        assert vector_bytes(frame.buf) == data
    # A frame of another size still goes out whole (in a vector of its own).
    frame.buf = vector.holding(odd)
    assert vector_bytes(frame.buf) == odd
