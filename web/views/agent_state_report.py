"""``/reports/agent-states``: time per state per agent over a period, optionally per hour
or per day, and the same as CSV (supervisors and admins).

The period is whole days in the deployment's time zone (``from``/``to``, inclusive),
cut at *now*; the sums are crm/agent_state_report.py's over what
crm/agent_state_report_store.py reads. A wrong filter renders the page with the error in
the reader's language and no figures (status 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from urllib.parse import urlencode

from aiohttp import web

from crm import agent_state_report_store, clock, contact_export, users
from crm.agent_state_report import (
    MAX_DAYS,
    AgentRow,
    Interval,
    IntervalRow,
    Totals,
    by_agent,
    by_interval,
    local_midnight,
)
from crm.users import Role, User
from web import formatting, i18n
from web.appkeys import DB
from web.auth import current_lang, role_required
from web.forms import FormErrors
from web.templating import render

INVALID = 400
MAX_AGENTS = 200
# The summary's time columns, in order: (Totals attribute, message key).
COLUMNS = (("logged_in", "reports.col.logged_in"), ("available", "reports.col.available"),
           ("on_call", "reports.col.on_call"), ("wrap_up", "reports.col.wrap_up"),
           ("paused_productive", "reports.col.paused_productive"),
           ("paused_unproductive", "reports.col.paused_unproductive"),
           ("logged_out", "reports.col.logged_out"))


@dataclass(frozen=True)
class Query:
    start_day: date
    end_day: date                 # inclusive
    agent_ids: tuple[int, ...]    # empty: every agent
    interval: Interval | None

    def params(self) -> list[tuple[str, str]]:
        out = [("from", self.start_day.isoformat()), ("to", self.end_day.isoformat())]
        out += [("agent", str(uid)) for uid in self.agent_ids]
        if self.interval is not None:
            out.append(("interval", self.interval.value))
        return out


def _day(value: str) -> date | None:
    if len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def read_query(query: Mapping[str, str], agents: Mapping[int, User], today: date,
               all_values: list[str]) -> tuple[Query, FormErrors]:
    """The filter asked for (defaults: today, everyone, no intervals) and its errors."""
    errors = FormErrors()
    raw_from, raw_to = query.get("from", "").strip(), query.get("to", "").strip()
    start = _day(raw_from) if raw_from else today
    end = _day(raw_to) if raw_to else (start or today)
    if start is None:
        errors.add("from", "reports.error.date")
    if end is None:
        errors.add("to", "reports.error.date")
    raw_interval = query.get("interval", "")
    interval: Interval | None = None
    if raw_interval:
        try:
            interval = Interval(raw_interval)
        except ValueError:
            errors.add("interval", "reports.error.interval")
    if start is not None and end is not None:
        if start > end:
            errors.add("to", "reports.error.range_order")
        elif (end - start).days + 1 > MAX_DAYS[interval]:
            errors.add("to", "reports.error.range_long", days=MAX_DAYS[interval])
    ids: list[int] = []
    for value in all_values[:MAX_AGENTS]:
        if not (value.isascii() and value.isdigit() and len(value) <= 18
                and int(value) in agents):
            errors.add("agent", "reports.error.agent")
            break
        if int(value) not in ids:
            ids.append(int(value))
    return Query(start or today, end or today, tuple(ids), interval), errors


@dataclass(frozen=True)
class Line:
    """One row of a table as the template shows it."""

    label: str
    sub: str
    durations: list[str]
    calls: int
    pauses: int
    codes: list[str]


def _durations(t: Totals) -> list[str]:
    return [formatting.format_duration(getattr(t, name)) for name, _ in COLUMNS]


def _interval_label(row: IntervalRow, step: Interval, lang: str, zone: tzinfo,
                    new_day: bool) -> tuple[str, str]:
    """(label, the date beside it): an hour names its date only when the day changes."""
    day = formatting.format_date(row.start, lang, zone)
    if step is Interval.DAY:
        return day, ""
    hours = (f"{formatting.format_time(row.start, lang, zone)}\u2013"
             f"{formatting.format_time(row.end, lang, zone)}")
    return hours, day if new_day else ""


@dataclass(frozen=True)
class Report:
    query: Query
    agents: list[User]             # the rows, in order
    rows: list[AgentRow]
    total: Totals
    intervals: list[IntervalRow]
    codes: list[tuple[int | None, str]]   # pause codes with time, and their names
    start: datetime
    end: datetime


async def _agents(request: web.Request) -> dict[int, User]:
    return {u.id: u for u in await users.list_users(request.app[DB])}


async def build(request: web.Request, query: Query, everyone: Mapping[int, User]) -> Report:
    zone = formatting.deployment_zone()
    start = local_midnight(query.start_day, zone)
    end = min(local_midnight(query.end_day + timedelta(days=1), zone), clock.utc_now())
    end = max(end, start)
    loaded = await agent_state_report_store.load(request.app[DB], start, end,
                                                 query.agent_ids or None)
    if query.agent_ids:
        ids = list(query.agent_ids)
    else:
        # Every agent, and anyone else whose state was logged in the period.
        seen = {span.user_id for span in loaded.spans}
        ids = [u.id for u in everyone.values()
               if (u.role is Role.AGENT and u.active) or u.id in seen]
    chosen = sorted((everyone[i] for i in ids if i in everyone),
                    key=lambda u: (u.display_name or u.username).casefold())
    rows = by_agent([u.id for u in chosen], loaded.spans, loaded.calls, loaded.productive,
                    start, end)
    total = Totals()
    for row in rows:
        total.add(row.totals)
    intervals = (by_interval([u.id for u in chosen], loaded.spans, loaded.calls,
                             loaded.productive, start, end, query.interval, zone)
                 if query.interval is not None else [])
    codes = sorted(((code, loaded.pause_names.get(code, "") if code is not None else "")
                    for code, seconds in total.paused_by_code.items() if seconds > 0),
                   key=lambda c: c[1].casefold())
    return Report(query, chosen, rows, total, intervals, codes, start, end)


def _lines(report: Report, lang: str) -> tuple[list[Line], Line, list[Line]]:
    zone = formatting.deployment_zone()
    names = {u.id: u for u in report.agents}
    code_ids = [code for code, _ in report.codes]

    def code_cells(t: Totals) -> list[str]:
        return [formatting.format_duration(t.paused_by_code.get(c, 0.0)) for c in code_ids]

    agent_lines = [Line(names[r.user_id].display_name or names[r.user_id].username,
                        names[r.user_id].username, _durations(r.totals), r.totals.calls,
                        r.totals.pauses, code_cells(r.totals)) for r in report.rows]
    total = Line(i18n.translate(lang, "reports.total"), "", _durations(report.total),
                 report.total.calls, report.total.pauses, code_cells(report.total))
    step = report.query.interval
    interval_lines: list[Line] = []
    previous = None
    for part in report.intervals if step is not None else []:
        assert step is not None
        day = part.start.astimezone(zone).date()
        label, sub = _interval_label(part, step, lang, zone, day != previous)
        previous = day
        interval_lines.append(Line(label, sub, _durations(part.totals), part.totals.calls,
                                   part.totals.pauses, []))
    return agent_lines, total, interval_lines


def _page(request: web.Request, query: Query, errors: FormErrors,
          everyone: Mapping[int, User], report: Report | None) -> web.Response:
    lang = current_lang(request)
    agent_lines, total, interval_lines = (_lines(report, lang) if report is not None
                                          else ([], None, []))
    choices = sorted((u for u in everyone.values() if u.active or u.id in query.agent_ids),
                     key=lambda u: (u.display_name or u.username).casefold())
    return render("reports_agent_states.html", request, {
        "query": query,
        "typed": {"from": request.query.get("from", query.start_day.isoformat())[:20],
                  "to": request.query.get("to", query.end_day.isoformat())[:20]},
        "errors": errors,
        "choices": choices,
        "columns": [key for _, key in COLUMNS],
        "agent_lines": agent_lines,
        "total": total,
        "interval_lines": interval_lines,
        "codes": [name or i18n.translate(lang, "reports.no_code")
                  for _, name in (report.codes if report else [])],
        "period_start": report.start if report else None,
        "period_end": report.end if report else None,
        "csv_url": "/reports/agent-states.csv?" + urlencode(query.params()),
        "intervals": [i.value for i in Interval],
    }, status=INVALID if errors else 200)


def _read(request: web.Request, everyone: Mapping[int, User]) -> tuple[Query, FormErrors]:
    today = clock.utc_now().astimezone(formatting.deployment_zone()).date()
    return read_query(request.query, everyone, today, request.query.getall("agent", []))


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def report_page(request: web.Request) -> web.StreamResponse:
    everyone = await _agents(request)
    query, errors = _read(request, everyone)
    report = None if errors else await build(request, query, everyone)
    return _page(request, query, errors, everyone, report)


@role_required(Role.ADMIN, Role.SUPERVISOR)
async def report_csv(request: web.Request) -> web.StreamResponse:
    """The report as CSV: UTF-8 with a BOM, the reader's list separator, times in whole
    seconds (a spreadsheet adds them up), formulas neutralised."""
    everyone = await _agents(request)
    query, errors = _read(request, everyone)
    if errors:
        return _page(request, query, errors, everyone, None)
    report = await build(request, query, everyone)
    lang = current_lang(request)
    t = i18n.translate
    zone = formatting.deployment_zone()
    seconds = [t(lang, "reports.csv.seconds", column=t(lang, key)) for _, key in COLUMNS]
    counts = [t(lang, "reports.col.calls"), t(lang, "reports.col.pauses")]

    def figures(x: Totals) -> list[str]:
        return [str(round(getattr(x, name))) for name, _ in COLUMNS] + [str(x.calls),
                                                                      str(x.pauses)]

    table: list[list[str]]
    if query.interval is not None:
        table = [[t(lang, "reports.csv.from"), t(lang, "reports.csv.to"), *seconds, *counts]]
        for part in report.intervals:
            table.append([part.start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                          part.end.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                          *figures(part.totals)])
    else:
        names = {u.id: u for u in report.agents}
        code_ids = [code for code, _ in report.codes]
        code_heads = [t(lang, "reports.csv.pause_code", name=name or t(lang, "reports.no_code"))
                      for _, name in report.codes]
        table = [[t(lang, "reports.col.agent"), t(lang, "reports.csv.username"), *seconds,
                  *counts, *code_heads]]
        for row in report.rows:
            user = names[row.user_id]
            table.append([user.display_name or user.username, user.username,
                          *figures(row.totals),
                          *(str(round(row.totals.paused_by_code.get(c, 0.0)))
                            for c in code_ids)])
    cells = [[contact_export.neutralise(cell) for cell in line] for line in table]
    body = contact_export.BOM + contact_export.csv_lines(cells, formatting.csv_delimiter(lang))
    name = (f"agent-states-{query.start_day:%Y%m%d}-{query.end_day:%Y%m%d}"
            f"{'-' + query.interval.value if query.interval else ''}.csv")
    return web.Response(body=body.encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
