"""HTTP tests of /reports/agent-states: figures from a known log, supervisors and admins
only, CSV for spreadsheets, per-hour intervals, days in the deployment's time zone, and
bad filters explained in the reader's language with nothing shown."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import call_records, clock, pause_codes, users
from crm.call_flow import Answered, Ended
from crm.db import Database
from gateway.settings import Settings
from tests.support.web_client import Client, page_client
from tests.unit.test_web_http import FAST, HOSTILE, HTML, PASSWORD, login
from web.appkeys import DB, DEPLOYMENT

DAY = datetime(2026, 3, 4, tzinfo=UTC)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with page_client(Settings(data_dir=str(tmp_path), region="ES"), PASSWORD,
                           FAST) as test_client:
        yield test_client


def _db(client: Client) -> Database:
    return client.app[DB]


async def _uid(client: Client, name: str) -> int:
    user = await users.get_by_username(_db(client), name)
    assert user is not None
    return user.id


async def _log(client: Client, user: str, status: str, start: datetime,
               end: datetime | None, code: int | None = None) -> None:
    await _db(client).execute(
        "INSERT INTO agent_state_log (user_id, status, pause_code_id, source, started_at,"
        " ended_at) VALUES (?, ?, ?, 'page', ?, ?)",
        (await _uid(client, user), status, code, clock.to_db(start),
         None if end is None else clock.to_db(end)))


async def _call(client: Client, user: str, answered: datetime, ended: datetime) -> None:
    call_id = f"call-{answered.timestamp()}"
    await call_records.create(_db(client), call_id, await _uid(client, user), "inbound",
                              "1001", "+34911234567", "", answered - timedelta(seconds=5))
    await call_records.apply_event(_db(client), call_id, Answered(), answered)
    await call_records.apply_event(_db(client), call_id, Ended(reason="hangup", side="remote"),
                                   ended)


async def _day_of_work(client: Client) -> None:
    """Agent Smith on 4 March 2026 (UTC): available 8:00-9:00 with a 10-minute call,
    a productive pause 9:00-9:30, an unproductive one 9:30-9:40, logged out after."""
    training = await pause_codes.create(_db(client), "11", "Training", True)
    coffee = await pause_codes.create(_db(client), "12", "Coffee", False)
    h8 = DAY + timedelta(hours=8)
    await _log(client, "agent", "available", h8, h8 + timedelta(hours=1))
    await _log(client, "agent", "paused", h8 + timedelta(hours=1), h8 + timedelta(minutes=90),
               training.id)
    await _log(client, "agent", "paused", h8 + timedelta(minutes=90),
               h8 + timedelta(minutes=100), coffee.id)
    await _log(client, "agent", "logged_out", h8 + timedelta(minutes=100), None)
    await _call(client, "agent", h8 + timedelta(minutes=10), h8 + timedelta(minutes=20))


def _cells(page: str, table: str) -> list[list[str]]:
    body = page.split(f'data-report="{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows]


async def test_supervisor_sees_time_per_state_per_agent(client: Client) -> None:
    await _day_of_work(client)
    await login(client, "sup")
    resp = await client.get("/reports/agent-states?from=2026-03-04&to=2026-03-04", headers=HTML)
    assert resp.status == 200
    page = await resp.text()
    rows = {r[0].split(" ")[0]: r for r in _cells(page, "agents")}
    # Agent | logged in | available | on call | wrap-up | productive | unproductive |
    # logged out | calls | pauses
    assert rows["Agent"][1:] == ["1:40:00", "50:00", "10:00", "0:00", "30:00", "10:00",
                                 "22:20:00", "1", "1"]
    codes = _cells(page, "codes")
    assert codes[0] == ["Agent", "Coffee", "Training"]
    assert codes[1][1:] == ["10:00", "30:00"]
    # The supervisor and the admin are not agents and logged nothing: not listed.
    assert "Sue Pervisor" not in "".join(r[0] for r in rows.values())
    assert 'href="/reports/agent-states" aria-current="page"' in page


async def test_agents_may_not_see_the_report_or_its_csv(client: Client) -> None:
    await login(client, "agent")
    for path in ("/reports/agent-states", "/reports/agent-states.csv"):
        assert (await client.get(path, headers=HTML)).status == 403
    page = await (await client.get("/", headers=HTML)).text()
    assert "/reports/agent-states" not in page  # not in their menu either


async def test_anonymous_is_sent_to_log_in(client: Client) -> None:
    resp = await client.get("/reports/agent-states", headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")


async def test_csv_in_seconds_with_the_readers_separator(client: Client) -> None:
    await _day_of_work(client)
    await users.update_user(_db(client), await _uid(client, "root"), language="es")
    await login(client, "root")
    resp = await client.get("/reports/agent-states.csv?from=2026-03-04&to=2026-03-04&agent="
                            + str(await _uid(client, "agent")))
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "agent-states-20260304-20260304.csv" in resp.headers["Content-Disposition"]
    text = (await resp.read()).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].split(";")[:4] == ["Agente", "Usuario", "En cola (s)", "Disponible (s)"]
    assert lines[1].split(";") == ["Agent Smith", "agent", "6000", "3000", "600", "0", "1800",
                                   "600", "80400", "1", "1", "600", "1800"]


async def test_hours_of_a_day_add_up_to_the_day(client: Client) -> None:
    await _day_of_work(client)
    await login(client, "sup")
    page = await (await client.get(
        "/reports/agent-states?from=2026-03-04&to=2026-03-04&interval=hour",
        headers=HTML)).text()
    hours = _cells(page, "intervals")[1:]
    assert len(hours) == 24
    nine = next(r for r in hours if "9:00" in r[0] and "10:00" in r[0])
    assert nine[1:8] == ["40:00", "0:00", "0:00", "0:00", "30:00", "10:00", "20:00"]
    csv = (await (await client.get(
        "/reports/agent-states.csv?from=2026-03-04&to=2026-03-04&interval=hour")).read()
           ).decode("utf-8").lstrip("\ufeff").splitlines()
    assert len(csv) == 25 and csv[9].startswith("2026-03-04 08:00,2026-03-04 09:00,3600,")
    assert sum(int(line.split(",")[2]) for line in csv[1:]) == 6000


async def test_days_are_the_deployments_days(client: Client) -> None:
    holder = client.app[DEPLOYMENT]
    holder.current = replace(holder.current, time_zone="America/Sao_Paulo")
    # 02:00-04:00 UTC on 4 March is 23:00-01:00 in São Paulo: an hour on each local day.
    await _log(client, "agent", "available", DAY + timedelta(hours=2),
               DAY + timedelta(hours=4))
    await login(client, "sup")
    for day, available in (("2026-03-03", "1:00:00"), ("2026-03-04", "1:00:00"),
                           ("2026-03-05", "0:00")):
        page = await (await client.get(f"/reports/agent-states?from={day}&to={day}",
                                       headers=HTML)).text()
        assert _cells(page, "agents")[1][2] == available, day


async def test_an_open_state_counts_up_to_now_and_not_beyond(client: Client) -> None:
    now = clock.utc_now()
    start = now - timedelta(hours=1)
    await _log(client, "agent", "available", start, None)
    await login(client, "sup")
    # From the day it started: in the first hour after midnight that is yesterday.
    first, today = start.date().isoformat(), now.date().isoformat()
    page = await (await client.get(f"/reports/agent-states?from={first}&to={today}",
                                   headers=HTML)).text()
    logged_in = _cells(page, "agents")[1][1]
    hours, minutes, _ = (int(x) for x in logged_in.split(":"))
    assert hours == 1 and minutes <= 1


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-13-01", "Escriba la fecha como año-mes-día"),
    ("from=2026-03-05&to=2026-03-01", "La fecha final es anterior a la inicial"),
    ("from=2026-01-01&to=2026-03-01&interval=hour", "como máximo 7 días"),
    ("interval=minute", "Elija por hora, por día"),
    ("agent=99999", "no existe"),
    (f"agent={HOSTILE}", "no existe"),
])
async def test_bad_filters_are_explained_in_the_readers_language(
        client: Client, query: str, message: str) -> None:
    await _day_of_work(client)
    await users.update_user(_db(client), await _uid(client, "sup"), language="es")
    await login(client, "sup")
    for path in ("/reports/agent-states?", "/reports/agent-states.csv?"):
        resp = await client.get(path + query, headers=HTML)
        assert resp.status == 400
        page = await resp.text()
        assert message in page and 'data-report="agents"' not in page
        assert HOSTILE not in page
