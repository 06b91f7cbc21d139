from hypothesis import given
from hypothesis import strategies as st

from gateway.placement import AGENTS_PER_WORKER_LIMIT, choose_worker, next_worker_id


def test_empty_needs_a_new_worker() -> None:
    assert choose_worker({}, 2) is None


def test_fills_the_busiest_worker_with_room() -> None:
    assert choose_worker({0: 0, 1: 1, 2: 2}, 2) == 1


def test_full_workers_need_a_new_one() -> None:
    assert choose_worker({0: 2, 1: 2}, 2) is None


def test_setting_cannot_exceed_the_library_cap() -> None:
    assert AGENTS_PER_WORKER_LIMIT == 2
    assert choose_worker({0: 2}, 8) is None


@given(st.lists(st.integers(min_value=0, max_value=2), max_size=20))
def test_never_places_beyond_the_cap(counts: list[int]) -> None:
    loads = dict(enumerate(counts))
    chosen = choose_worker(loads, 2)
    if chosen is not None:
        assert loads[chosen] + 1 <= AGENTS_PER_WORKER_LIMIT
    else:
        assert all(c >= 2 for c in counts)


def test_next_worker_id_reuses_gaps() -> None:
    assert next_worker_id({0, 2}, 10) == 1
    assert next_worker_id({0, 1}, 2) is None
