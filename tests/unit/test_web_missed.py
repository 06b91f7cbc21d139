"""HTTP tests of the missed-call pages: the folded list, its filters and actions with their
permissions, the badge count, the statistics, and the profile's e-mail option."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import (
    call_records,
    clock,
    contacts,
    missed_call_pages,
    missed_call_store,
    missed_row_store,
    missed_rows,
    users,
)
from crm.call_flow import Answered, Ended
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, csrf_in, login
from web.appkeys import DB, DEPLOYMENT

NUMBER = "+34911234567"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path), region="ES"), PASSWORD,
                           FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _user_id(client: Client, name: str) -> int:
    user = await users.get_by_username(_db(client), name)
    assert user is not None
    return user.id


async def call(client: Client, remote: str, *, ago: float, direction: str = "inbound",
               answered: bool = False, name: str = "", user: str = "agent") -> str:
    """A finished call record, ``ago`` seconds ago."""
    db = _db(client)
    start = clock.utc_now() - timedelta(seconds=ago)
    call_id = str(uuid.uuid4())
    await call_records.create(db, call_id, await _user_id(client, user), direction,  # type: ignore[arg-type]
                              "1001", remote, name, start)
    if answered:
        await call_records.apply_event(db, call_id, Answered(), start + timedelta(seconds=3))
    side = "agent" if answered else ("remote" if direction == "inbound" else "system")
    reason = "hangup" if answered or direction == "inbound" else "timeout"
    await call_records.apply_event(db, call_id, Ended(reason=reason, side=side),  # type: ignore[arg-type]
                                   start + timedelta(seconds=15))
    return call_id


async def _page(client: Client, path: str = "/missed", **headers: str) -> str:
    resp = await client.get(path, headers={**HTML, **headers})
    assert resp.status == 200, resp.status
    return await resp.text()


async def _act(client: Client, key: str, action: str, back: str = "/missed",
               token: bool = True) -> tuple[int, str]:
    data = {"key": key, "action": action, "back": back}
    if token:
        data["csrf_token"] = csrf_in(await _page(client, "/"))
    resp = await client.post("/missed/action", headers=HTML, data=data, allow_redirects=False)
    return resp.status, resp.headers.get("Location", "")


def _rows(page: str) -> list[str]:
    return re.findall(r'<li class="missed-item" data-key="([^"]*)" data-view="([^"]*)"', page)


async def test_unanswered_calls_fold_into_one_row_with_dial_link_and_contact(
        client: Client) -> None:
    await contacts.create_contact(_db(client), ContactDraft(
        kind=ContactKind.PERSON, name="Lucía Pérez",
        phones=(ContactPhone(PhoneLabel.MOBILE, NUMBER),)))
    await call(client, "911234567", ago=600)
    await call(client, "911234567", ago=300)
    await call(client, "+34600000001", ago=100)
    await login(client, "agent")
    page = await _page(client)
    assert _rows(page) == [("+34600000001", "active"), (NUMBER, "active")]
    assert f'href="tel:{NUMBER}" data-dial="{NUMBER}"' in page
    assert "911 23 45 67" in page  # national format in Spain
    assert "Lucía Pérez" in page and "Calls: 2" in page
    assert page.count('<ol class="timeline">') == 2
    assert page.count("Missed call</span>") >= 3
    # Agents see the list and call back, but cannot hide or remove.
    assert 'value="sms"' in page and 'value="hide"' not in page and 'value="remove"' not in page
    # The badge says 2, server-side.
    assert re.search(r"data-missed-badge[^>]*><span class=\"sr-only\">: </span>2</span>", page)


async def test_agent_records_sms_but_may_not_hide_or_remove(client: Client) -> None:
    await call(client, NUMBER, ago=60)
    await login(client, "agent")
    for action in ("hide", "remove", "restore"):
        assert (await _act(client, NUMBER, action))[0] == 403
    status, location = await _act(client, NUMBER, "sms")
    assert (status, location) == (303, "/missed?done=sms")
    page = await _page(client, location)
    assert "SMS attempt recorded." in page and "SMS sent</span>" in page
    assert "Agent Smith" in page  # who sent it, in the timeline
    assert _rows(page) == [(NUMBER, "active")]


async def test_supervisor_hides_restores_and_removes(client: Client) -> None:
    await call(client, NUMBER, ago=60)
    await login(client, "sup")
    page = await _page(client)
    assert 'value="hide"' in page and 'value="remove"' in page
    assert (await _act(client, NUMBER, "hide"))[0] == 303
    assert _rows(await _page(client)) == []
    hidden = await _page(client, "/missed?view=hidden")
    assert _rows(hidden) == [(NUMBER, "hidden")] and 'value="restore"' in hidden
    # Hiding twice is stale: nothing changes.
    assert (await _act(client, NUMBER, "hide"))[1].endswith("done=stale")
    assert (await _act(client, NUMBER, "restore"))[0] == 303
    assert _rows(await _page(client)) == [(NUMBER, "active")]
    status, location = await _act(client, NUMBER, "remove", back="/missed?view=all")
    assert (status, location) == (303, "/missed?view=all&done=remove")
    assert _rows(await _page(client)) == []
    removed = await _page(client, "/missed?view=removed")
    assert _rows(removed) == [(NUMBER, "removed")]
    assert "Sue Pervisor" in removed and "Removed" in removed
    assert (await _act(client, NUMBER, "remove"))[1].endswith("done=stale")


async def test_actions_need_csrf_and_a_login(client: Client) -> None:
    await call(client, NUMBER, ago=60)
    resp = await client.post("/missed/action", data={"key": NUMBER, "action": "sms"},
                             headers={"Accept": "application/json"})
    assert resp.status in (401, 403)
    await login(client, "root")
    assert (await _act(client, NUMBER, "remove", token=False))[0] == 403
    assert (await _act(client, NUMBER, "explode"))[0] == 400
    # An off-site "back" is not followed.
    assert (await _act(client, NUMBER, "sms", back="https://evil.example/"))[1] == (
        "/missed?done=sms")
    page = await _page(client, "/missed?view=all")
    assert _rows(page) == [(NUMBER, "active")]
    assert page.count('class="entry-sms"') == 1


async def test_getting_through_or_a_callback_removes_the_row(client: Client) -> None:
    await call(client, NUMBER, ago=900)
    await call(client, "+34600000002", ago=800)
    await call(client, NUMBER, ago=100, answered=True)
    await call(client, "600000002", ago=50, direction="outbound", answered=True, user="sup")
    await login(client, "agent")
    assert _rows(await _page(client)) == []
    removed = await _page(client, "/missed?view=removed")
    assert "Caller got through" in removed and "Called back" in removed
    count = await (await client.get("/api/missed/count")).json()
    assert count == {"count": 0, "latest": None}


async def test_count_api(client: Client) -> None:
    assert (await client.get("/api/missed/count")).status == 401
    await call(client, NUMBER, ago=120)
    await call(client, "+34600000003", ago=60)
    await login(client, "agent")
    resp = await client.get("/api/missed/count")
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["count"] == 2
    latest = datetime.fromisoformat(body["latest"])
    assert timedelta(seconds=50) < clock.utc_now() - latest < timedelta(seconds=70)


async def test_hostile_caller_name_and_number_are_escaped(client: Client) -> None:
    await call(client, HOSTILE, ago=60, name=HOSTILE)
    await call(client, "=cmd|' /C calc'!A0", ago=30)
    await login(client, "agent")
    page = await _page(client)
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert "data-dial=\"&lt;" not in page and len(_rows(page)) == 2
    assert 'data-dial="=cmd' not in page


async def test_stats_bars_link_to_the_filtered_list(client: Client) -> None:
    await call(client, NUMBER, ago=3000)
    await call(client, "+34600000004", ago=2000)
    await call(client, "+34600000005", ago=1000)
    await call(client, "+34600000004", ago=500, direction="outbound")
    await login(client, "sup")
    await _act(client, "+34600000005", "remove")
    page = await _page(client, "/missed/stats")
    assert "Rows in the period: 3" in page
    today = clock.utc_now().date().isoformat()
    link = re.search(r'href="(/missed\?view=all&amp;status=called_back&amp;from=[^"]+)"', page)
    assert link is not None
    assert re.search(r'<rect class="bar-fill" x="0" y="0" width="100"', page)
    listing = await _page(client, link.group(1).replace("&amp;", "&"))
    assert _rows(listing) == [("+34600000004", "active")]
    user_link = re.search(r'href="(/missed\?view=all&amp;removal=user&amp;[^"]+)"', page)
    assert user_link is not None and today in user_link.group(1)
    assert _rows(await _page(client, user_link.group(1).replace("&amp;", "&"))) == [
        ("+34600000005", "removed")]


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-13-01", "Las fechas deben tener la forma 2026-03-31"),
    ("from=2026-03-10&to=2026-03-01", "La fecha de inicio es posterior"),
    ("from=2020-01-01&to=2026-01-01", "Elija como máximo un año"),
    ("from=<script>", "Las fechas deben tener la forma"),
])
async def test_bad_dates_are_explained_in_the_users_language(client: Client, query: str,
                                                             message: str) -> None:
    await login(client, "agent")
    resp = await client.get(f"/missed/stats?{query}", headers={**HTML, "Accept-Language": "es"})
    assert resp.status == 400
    page = await resp.text()
    assert message in page and "<script>" not in page.split("</head>", 1)[1].replace(
        '<script type="module"', "")


async def test_profile_email_option(client: Client) -> None:
    await login(client, "agent")
    agent_id = await _user_id(client, "agent")
    page = await _page(client, "/profile")
    assert "E-mail me about each new missed call" in page
    assert "E-mail is not set up yet" in page
    token = csrf_in(page)

    async def submit(data: dict[str, str]) -> tuple[int, str]:
        resp = await client.post("/profile/missed-email", headers=HTML, allow_redirects=False,
                                 data={"csrf_token": token, **data})
        return resp.status, await resp.text()

    status, body = await submit({"missed_email_enabled": "1", "missed_email": "not-an-address"})
    assert status == 400 and "Enter one e-mail address" in body
    status, body = await submit({"missed_email_enabled": "1", "missed_email": ""})
    assert status == 400 and "Enter the address to send the e-mails to." in body
    assert await missed_call_store.get_subscription(_db(client), agent_id) is None
    status, _ = await submit({"missed_email_enabled": "1", "missed_email": " ana@example.com "})
    assert status == 303
    subscription = await missed_call_store.get_subscription(_db(client), agent_id)
    assert subscription is not None and subscription.email == "ana@example.com"
    page = await _page(client, "/profile?done=missed_on")
    assert "You will get an e-mail" in page and 'value="ana@example.com"' in page
    status, _ = await submit({"missed_email": "ana@example.com"})
    assert status == 303
    assert await missed_call_store.get_subscription(_db(client), agent_id) is None
    resp = await client.post("/profile/missed-email", headers=HTML, allow_redirects=False,
                             data={"missed_email_enabled": "1", "missed_email": "a@b.co"})
    assert resp.status == 403


async def test_badge_count_follows_every_change_without_folding_on_read(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    await call(client, NUMBER, ago=60)
    await login(client, "agent")

    async def count() -> int:
        return int((await (await client.get("/api/missed/count")).json())["count"])

    assert await count() == 1  # the first reader builds the kept rows
    folds: list[str] = []
    real = missed_rows.fold_kept

    def counted(key: str, *args: object, **kwargs: object) -> object:
        folds.append(key)
        return real(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(missed_rows, "fold_kept", counted)
    monkeypatch.setattr(missed_row_store, "fold_kept", counted)
    assert [await count() for _ in range(3)] == [1] * 3
    await _page(client, "/missed")
    assert folds == []  # reading folds nothing
    # Each change shows at once, and refolds only the caller it concerns.
    await call(client, "+34600000009", ago=30)
    assert await count() == 2 and set(folds) == {"+34600000009"}
    assert (await _act(client, NUMBER, "sms"))[0] == 303
    assert await count() == 2
    await login(client, "sup")
    assert (await _act(client, NUMBER, "hide"))[0] == 303
    assert await count() == 1
    assert (await _act(client, NUMBER, "restore"))[0] == 303
    assert await count() == 2
    await call(client, NUMBER, ago=5, answered=True)
    assert await count() == 1
    assert set(folds) == {"+34600000009", NUMBER}


async def test_pages_open_when_the_count_fails(client: Client, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(missed_call_pages, "count", broken)
    await login(client, "agent")
    page = await _page(client, "/contacts")
    assert re.search(r"data-missed-badge[^>]* hidden>", page)
    assert "missed-call count failed" in caplog.text


async def test_every_view_pages_through_all_rows_with_no_cap(client: Client) -> None:
    # 120 callers: more than two pages of the list, none left out, none repeated.
    for i in range(120):
        await call(client, f"+3460000{i:04d}", ago=60 + i * 7)
    await login(client, "agent")
    for view in ("active", "all"):
        seen: list[str] = []
        path = f"/missed?view={view}"
        numbers: list[str] = []
        for _ in range(10):
            page = await _page(client, path)
            seen.extend(key for key, _ in _rows(page))
            numbers.extend(re.findall(r'<span class="muted">(Page \d+)</span>', page))
            found = re.search(r'<a href="([^"]+)" rel="next">Older</a>', page)
            if found is None:
                break
            path = found.group(1).replace("&amp;", "&")
            assert "Newest" not in page or "before=" in page
        assert seen == [f"+3460000{i:04d}" for i in range(120)], view
        assert numbers == ["Page 1", "Page 2", "Page 3"]
    # A cursor that is not one is ignored: the first page.
    page = await _page(client, "/missed?before=garbage_%3Cscript%3E")
    assert _rows(page)[0] == ("+34600000000", "active") and "<script>" not in page


@pytest.mark.parametrize(("zone", "utc_hour", "local_day_offset"), [
    # 23:30 UTC is 00:30 the next day in Madrid (winter, UTC+1).
    ("Europe/Madrid", 23, 1),
    # 01:30 UTC is 22:30 the day before in São Paulo (UTC-3).
    ("America/Sao_Paulo", 1, -1),
])
async def test_date_filter_reads_the_deployments_days(client: Client, zone: str,
                                                      utc_hour: int,
                                                      local_day_offset: int) -> None:
    holder = client.app[DEPLOYMENT]
    holder.current = replace(holder.current, time_zone=zone)
    utc_day = (clock.utc_now() - timedelta(days=5)).date()
    if utc_day.month in (3, 10, 11):  # keep clear of DST changes: winter offsets below
        utc_day = utc_day.replace(day=15, month=1)
    start = datetime(utc_day.year, utc_day.month, utc_day.day, utc_hour, 30, tzinfo=UTC)
    call_id = str(uuid.uuid4())
    db = _db(client)
    await call_records.create(db, call_id, await _user_id(client, "agent"), "inbound",
                              "1001", NUMBER, "", start)
    await call_records.apply_event(db, call_id, Ended(reason="hangup", side="remote"),
                                   start + timedelta(seconds=15))
    await login(client, "agent")
    local_day = utc_day + timedelta(days=local_day_offset)
    for day, listed in ((local_day, True), (utc_day, False)):
        page = await _page(client, f"/missed?view=all&from={day}&to={day}")
        assert bool(_rows(page)) is listed, (zone, day)
    for day, total in ((local_day, "1"), (utc_day, "0")):
        stats = await _page(client, f"/missed/stats?from={day}&to={day}")
        shown = re.search(r'<p class="range-total"><a [^>]*>([^<]*)</a>', stats)
        assert shown is not None and shown.group(1).endswith(": " + total), (zone, day)


@pytest.mark.parametrize("lang", ["en", "es", "pt-BR", "pl"])
@pytest.mark.parametrize("zone", ["Europe/Madrid", "America/Sao_Paulo", "UTC"])
def test_times_read_as_babel_writes_them(lang: str, zone: str) -> None:
    from babel import dates

    from web import formatting
    from web.views import missed

    token = formatting.use_zone(formatting.deployment_zone(zone))
    try:
        for at in (datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
                   datetime(2026, 12, 31, 23, 5, 7, tzinfo=UTC),
                   datetime(2026, 7, 1, 12, 0, 59, 999000, tzinfo=UTC),
                   datetime(2026, 7, 1, 0, 0, tzinfo=UTC)):
            assert missed._when(at, lang) == dates.format_datetime(
                at, "short", tzinfo=formatting.deployment_zone(),
                locale=lang.replace("-", "_"))
    finally:
        formatting.forget_zone(token)
