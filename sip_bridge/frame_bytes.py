"""Reading a pjsua2 ``ByteVector`` (a SWIG ``std::vector<unsigned char>``) into bytes,
and writing bytes into one.

``bytes(frame.buf)`` walks the vector one element at a time through SWIG: about 1 ms for
a 20 ms frame at 16 kHz, on pjmedia's clock thread, holding the GIL, for every call. That
one line was most of a bridged call's cost. The vector's storage is contiguous, and its
first two words are the begin and end pointers in every mainstream C++ library, so the
bytes can be copied in one ``ctypes.string_at`` (about 2 µs).

The other way, ``pj.ByteVector(data)`` also converts element by element (~25 µs a frame
on a busy host): ``FrameVector`` keeps one vector of a frame's size and copies new bytes
into its storage with one ``ctypes.memmove`` (~3 µs).

That layout is an ABI fact, not an API promise, so it is checked once at import on a
known vector; if the check fails, the slow, always-correct copies are used.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

import pjsua2 as pj

log = logging.getLogger(__name__)

_WORD = ctypes.sizeof(ctypes.c_void_p)


def _contiguous_copy(vector: pj.ByteVector) -> bytes:
    address = int(vector.this)
    begin = ctypes.c_void_p.from_address(address).value
    end = ctypes.c_void_p.from_address(address + _WORD).value
    if not begin or not end or end < begin:
        return b""
    return ctypes.string_at(begin, end - begin)


def _element_copy(vector: pj.ByteVector) -> bytes:
    return bytes(vector)


def _choose() -> Callable[[pj.ByteVector], bytes]:
    expected = bytes(range(256)) * 3
    probe = pj.ByteVector(expected)
    try:
        if _contiguous_copy(probe) == expected and _contiguous_copy(pj.ByteVector()) == b"":
            return _contiguous_copy
    except (OSError, ValueError, TypeError):
        pass
    log.warning("ByteVector layout not recognised: using the slow element-wise copy")
    return _element_copy


vector_bytes = _choose()


class FrameVector:
    """One ``ByteVector`` of ``size`` bytes, refilled in place for each frame.

    ``MediaFrame.buf = vector`` copies the vector in C++, so the same one can be handed
    out again for the next frame.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._vector = pj.ByteVector(bytes(size))
        self._fast = vector_bytes is _contiguous_copy

    def holding(self, data: bytes) -> pj.ByteVector:
        """A vector holding ``data``: this one, refilled, if ``data`` is ``size`` long."""
        begin = ctypes.c_void_p.from_address(int(self._vector.this)).value
        if len(data) != self.size or not self._fast or not begin:
            return pj.ByteVector(data)
        ctypes.memmove(begin, data, self.size)
        return self._vector
