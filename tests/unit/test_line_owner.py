"""Which of an agent's tabs owns the line: the pure rules (gateway/line_owner.py), and the
control plane (gateway/lines.py) applying them to real sessions, without workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm.db import Database
from crm.secret_key import load_or_create_key
from gateway import lines as lines_module
from gateway import signalling
from gateway.line_owner import Change, LineOwnership
from gateway.lines import Lines
from tests.conftest import gateway_settings
from tests.support.gateway import TabSession, make_agent_user


def test_the_first_tab_owns_the_line_and_the_next_waits() -> None:
    owner: LineOwnership[str] = LineOwnership()
    assert owner.connect("a", "tab-a") == Change(gained="a")
    assert owner.connect("b", "tab-b") == Change()
    assert owner.is_owner("a") and not owner.is_owner("b")


def test_use_here_moves_the_line() -> None:
    owner: LineOwnership[str] = LineOwnership()
    owner.connect("a", "tab-a")
    owner.connect("b", "tab-b")
    assert owner.take("b") == Change(gained="b", lost="a")
    # Already here: given again (the tab may have stood down on a stale hint).
    assert owner.take("b") == Change(gained="b")
    assert owner.take("gone") == Change()


def test_a_reconnecting_tab_gets_its_line_back_before_another_tab() -> None:
    owner: LineOwnership[str] = LineOwnership()
    owner.connect("a1", "tab-a")
    owner.connect("b", "tab-b")
    assert owner.disconnect("a1") == Change(hold=True)
    assert owner.owner is None
    assert owner.connect("c", "tab-c") == Change()  # a third tab waits too
    assert owner.connect("a2", "tab-a") == Change(gained="a2")
    assert owner.hold_expired() == Change()


def test_a_tab_that_does_not_come_back_leaves_the_line_to_the_newest() -> None:
    owner: LineOwnership[str] = LineOwnership()
    owner.connect("a", "tab-a")
    owner.connect("b", "tab-b")
    owner.connect("c", "tab-c")
    assert owner.disconnect("a") == Change(hold=True)
    assert owner.hold_expired() == Change(gained="c")


def test_a_reload_takes_over_from_its_own_stale_socket() -> None:
    owner: LineOwnership[str] = LineOwnership()
    owner.connect("old", "tab-a")
    assert owner.connect("new", "tab-a") == Change(gained="new", lost="old")
    assert owner.disconnect("old") == Change()
    assert owner.is_owner("new")


def test_the_last_tab_leaving_frees_the_line_for_any_tab() -> None:
    owner: LineOwnership[str] = LineOwnership()
    owner.connect("a", "tab-a")
    assert owner.disconnect("a") == Change()
    assert owner.connect("b", "tab-b") == Change(gained="b")
    # Clients that name no tab: one after the other, each owns it.
    owner.disconnect("b")
    assert owner.connect("x", "") == Change(gained="x")


def types(tab: TabSession, since: int = 0) -> list[str]:
    return [event["type"] for event in tab.events[since:]]


async def test_only_the_owning_tab_hears_and_commands(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines_module, "OWNER_HOLD_SECONDS", 0.01)
    box = load_or_create_key(tmp_path)
    # No start(): no workers, only the sessions' side of the control plane.
    lines = Lines(gateway_settings(tmp_path, "127.0.0.1:5060"), db, box, lambda lang, key: key)
    user = await make_agent_user(db, box, "ana", None)
    first = TabSession(lines, user)
    await first.wait_event(lambda e: e["type"] == "line")
    assert types(first)[:3] == ["hello", "line_owner", "line"]
    assert first.events[1]["here"] is True

    second = TabSession(lines, user)
    await second.wait_event(lambda e: e["type"] == "line_owner")
    assert types(second) == ["hello", "line_owner"] and second.events[1]["here"] is False
    # The waiting tab may not drive the phone; a ping still answers.
    await second.send(signalling.Dial(target="1003"))
    refused = await second.wait_event(lambda e: e["type"] == "error")
    assert (refused["code"], refused["ref"]) == ("line_in_other_tab", "dial")
    await second.send(signalling.Ping())
    await second.wait_event(lambda e: e["type"] == "pong")

    # "Use here": the line and its state move; the first tab is told to let go.
    mark_first, mark_second = len(first.events), len(second.events)
    await second.send(signalling.TakeLine())
    await second.wait_event(lambda e: e["type"] == "line", since=mark_second)
    assert types(second, mark_second)[:2] == ["line_owner", "line"]
    assert second.events[mark_second]["here"] is True
    lost = await first.wait_event(lambda e: e["type"] == "line_owner", since=mark_first)
    assert lost["here"] is False
    await first.send(signalling.Online())
    assert (await first.wait_event(lambda e: e["type"] == "error",
                                   since=mark_first))["code"] == "line_in_other_tab"

    # The owner's tab closes and does not come back: the other tab gets the line.
    mark_first = len(first.events)
    await second.close_session()
    promoted = await first.wait_event(lambda e: e["type"] == "line_owner", since=mark_first)
    assert promoted["here"] is True
    await first.close_session()
