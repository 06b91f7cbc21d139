"""Missed-call pages: the folded list with its filters and actions, the statistics, and the
count behind the top bar's badge.

Rows come from crm/missed_calls.py (folding) through crm/missed_call_store.py; this module
turns them into what the templates show (formatted times, names, links) and takes the
actions: everyone records SMS attempts; supervisors and admins hide, restore and remove
(``missed_calls.allowed``). Every action is a POST with the CSRF token that names the
caller's key; an action on a row that changed meanwhile (someone else removed it, the
caller got through) changes nothing and says so.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlencode

from aiohttp import web
from babel import Locale, dates
from babel.dates import DateTimePattern
from babel.numbers import format_percent

from crm import (
    clock,
    missed_call_pages,
    missed_call_store,
    phone_numbers,
    sms_gateway,
    sms_sender,
    users,
)
from crm.deployment import Deployment
from crm.errors import InvalidValue
from crm.missed_call_pages import Cursor
from crm.missed_calls import (
    ActionKind,
    Entry,
    EntryKind,
    LastStatus,
    MissedRow,
    Removal,
    RowFilter,
    SmsResult,
    View,
    action_fits,
    allowed,
    can_manage,
)
from crm.secret_key import SecretKeyError
from web import formatting
from web.appkeys import DB
from web.auth import current_lang, login_required, require_user
from web.deployment_setup import live
from web.forms import text
from web.missed_badge import active_count
from web.templating import render
from web.views.login import see_other
from web.webkeys import SECRET_BOX

MAX_RANGE_DAYS = 366
NOTICES = {kind.value: f"missed.notice.{kind.value}" for kind in ActionKind}
NOTICES["stale"] = "missed.notice.stale"
NOTICES["sms_sent"] = "missed.notice.sms_sent"
# What went wrong with an SMS, said in an alert: done -> message key.
FAILURES = {"sms_failed": "missed.sms.failed", "sms_text": "missed.sms.bad_text",
            "sms_not_a_number": "missed.sms.not_a_number"}
_CODE = re.compile(r"^([1-5][0-9]{2}|[A-Za-z]{1,40})$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    key: str
    params: dict[str, object]


def _failure(done: str, code: str) -> Failure | None:
    """The alert for a failed SMS; the code from the URL shown only if it is a status or
    an exception's name (nothing else from a link reaches the page)."""
    key = FAILURES.get(done)
    if key is None:
        return None
    if done == "sms_failed":
        if code.isdigit() and _CODE.match(code):
            return Failure("missed.sms.failed_status", {"status": code})
        return Failure("missed.sms.failed_no_answer",
                       {"reason": code if _CODE.match(code) else "?"})
    return Failure(key, {})


def _locale(lang: str) -> str:
    return lang.replace("-", "_")


@functools.lru_cache(maxsize=16)
def _short_patterns(lang: str) -> tuple[Locale, str, DateTimePattern, DateTimePattern]:
    """babel's "short" date-time for ``lang``, parsed once: a page formats a few hundred
    instants, and ``format_datetime`` looks the locale and patterns up on every call."""
    locale = Locale.parse(_locale(lang))
    frame = str(dates.get_datetime_format("short", locale=locale)).replace("'", "")
    return (locale, frame, dates.parse_pattern(dates.get_date_format("short", locale)),
            dates.parse_pattern(dates.get_time_format("short", locale)))


@functools.lru_cache(maxsize=4096)
def _short_date(day: date, lang: str) -> str:
    locale, _, date_pattern, _ = _short_patterns(lang)
    return date_pattern.apply(day, locale)


@functools.lru_cache(maxsize=4096)
def _short_time(hour: int, minute: int, lang: str) -> str:
    # The short time patterns show hours and minutes only (checked against babel in
    # tests/unit/test_web_missed.py), so an instant's text depends on these alone.
    locale, _, _, time_pattern = _short_patterns(lang)
    return time_pattern.apply(time(hour, minute), locale)


def _when(at: datetime, lang: str) -> str:
    """``babel.dates.format_datetime(at, "short")`` in the deployment's time zone, as
    every other page shows instants (the same text: tests/unit/test_web_missed.py). A
    page shows a few hundred instants over a few days: each day's and each minute's text
    is made once."""
    _, frame, _, _ = _short_patterns(lang)
    local = at.astimezone(formatting.deployment_zone())
    return (frame.replace("{0}", _short_time(local.hour, local.minute, lang))
            .replace("{1}", _short_date(local.date(), lang)))


# Reading a key for display costs libphonenumber a few hundred microseconds; a page shows
# fifty and the same callers come back.
_display = functools.lru_cache(maxsize=50_000)(phone_numbers.display)


def _numbering(d: Deployment) -> missed_call_store.Numbering:
    return missed_call_store.Numbering(d.region, d.area_code)


# -- what the templates show ---------------------------------------------------------------

@dataclass(frozen=True)
class EntryView:
    label_key: str
    when: str
    iso: str
    who: str
    outcome_key: str
    outcome_params: dict[str, object]


@dataclass(frozen=True)
class RowView:
    key: str
    shown: str           # the number as a person in the region reads it
    dial: str            # what data-dial / tel: carry ('' = not dialable)
    name: str
    contact_id: int
    count: int
    first: str
    last: str
    last_iso: str
    view: str
    status_key: str
    closure_key: str
    closed: str
    closed_by: str
    timeline: list[EntryView]


_ENTRY_LABELS = {kind: f"missed.entry.{kind.value}" for kind in EntryKind}


def _entry_label(entry: Entry) -> str:
    if entry.kind is EntryKind.SMS and entry.outcome == SmsResult.FAILED:
        return "missed.entry.sms_failed"
    return _ENTRY_LABELS[entry.kind]


def _outcome_key(kind: EntryKind, outcome: str, status: int | None = None) -> str:
    """The call's outcome (or how an SMS went), where it adds to the entry's label
    ("Missed call" says it)."""
    if kind is EntryKind.SMS:
        if outcome in (SmsResult.SENT, SmsResult.FAILED):
            return f"missed.sms_result.{outcome}" if status else "missed.sms_result.no_answer"
        return "missed.sms_result.manual"
    if not outcome or (kind is EntryKind.MISSED and outcome == "missed"):
        return ""
    return f"call.outcome.{outcome}"


async def _row_views(request: web.Request, rows: list[MissedRow]) -> list[RowView]:
    db = request.app[DB]
    lang = current_lang(request)
    region = live(request.app).region
    names = {u.id: u.display_name for u in await users.list_users(db)}
    known = await missed_call_store.contacts_of(db, (row.key for row in rows))
    views: list[RowView] = []
    for row in rows:
        contact_id, contact_name = known.get(row.key, (0, ""))
        timeline = [EntryView(
            label_key=_entry_label(entry), when=_when(entry.at, lang),
            iso=entry.at.isoformat(), who=names.get(entry.user_id, "") if entry.user_id else "",
            outcome_key=_outcome_key(entry.kind, entry.outcome, entry.gateway_status),
            outcome_params={"status": entry.gateway_status or ""})
            for entry in reversed(row.timeline)]
        views.append(RowView(
            key=row.key,
            shown=_display(row.key, region) if row.key else "",
            dial=row.key if row.dialable else "",
            name=contact_name or row.name,
            contact_id=contact_id,
            count=row.count,
            first=_when(row.first_at, lang),
            last=_when(row.last_at, lang),
            last_iso=row.last_at.isoformat(),
            view=row.view.value,
            status_key=f"missed.status.{row.last_status.value}",
            closure_key=f"missed.closure.{row.closure.value}" if row.closure else "",
            closed=_when(row.closed_at, lang) if row.closed_at else "",
            closed_by=names.get(row.closed_by, "") if row.closed_by else "",
            timeline=timeline,
        ))
    return views


# -- query parameters ----------------------------------------------------------------------

def _enum_param(request: web.Request, name: str, kind: type[enum.StrEnum]) -> str | None:
    value = request.query.get(name, "")
    return value if value in {member.value for member in kind} else None


def parse_day(value: str) -> date | None:
    """A ``YYYY-MM-DD`` day, or None if it is not one."""
    if len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _day_start(day: date) -> datetime:
    # Days are the deployment's, as the pages show times: midnight there, as a UTC instant.
    zone = formatting.deployment_zone()
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _today() -> date:
    return clock.utc_now().astimezone(formatting.deployment_zone()).date()


@dataclass(frozen=True)
class Range:
    start: date
    end: date            # inclusive
    error: str = ""

    @property
    def since(self) -> datetime:
        return _day_start(self.start)

    @property
    def until(self) -> datetime:
        return _day_start(self.end + timedelta(days=1))

    def query(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def parse_range(request: web.Request, default_days: int) -> Range | None:
    """The ``from``/``to`` days asked for; a default range with an error key when wrong;
    None when neither is given."""
    raw_from, raw_to = request.query.get("from", ""), request.query.get("to", "")
    today = _today()
    fallback = Range(today - timedelta(days=default_days - 1), today)
    if not raw_from and not raw_to:
        return None
    start = parse_day(raw_from) if raw_from else fallback.start
    end = parse_day(raw_to) if raw_to else today
    if start is None or end is None:
        return Range(fallback.start, fallback.end, "missed.error.date")
    if start > end:
        return Range(fallback.start, fallback.end, "missed.error.range_order")
    if (end - start).days >= MAX_RANGE_DAYS:
        return Range(fallback.start, fallback.end, "missed.error.range_long")
    return Range(start, end)


def _page_number(value: str) -> int:
    if value.isascii() and value.isdigit() and len(value) <= 6 and int(value) >= 1:
        return int(value)
    return 1


# -- pages ---------------------------------------------------------------------------------

@login_required
async def missed_list(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    view = View(_enum_param(request, "view", View) or View.ACTIVE.value)
    status = _enum_param(request, "status", LastStatus)
    removal = _enum_param(request, "removal", Removal)
    d = live(request.app)
    period = parse_range(request, d.missed_retention_days)
    chosen = period if period is not None and not period.error else None
    where = RowFilter(view, LastStatus(status) if status else None,
                      Removal(removal) if removal else None,
                      chosen.since if chosen else None, chosen.until if chosen else None)
    before = Cursor.parse(request.query.get("before", ""))
    now = clock.utc_now()
    page = await missed_call_pages.load_page(
        request.app[DB], _numbering(d), where, before=before,
        limit=missed_call_pages.PAGE_SIZE, now=now, retention_days=d.missed_retention_days)
    # What is still listed, for the tabs: the badge's cached count and the few hidden rows.
    counts = {View.ACTIVE.value: (await active_count(request.app))[0],
              View.HIDDEN.value: await missed_call_pages.hidden_count(
                  request.app[DB], _numbering(d), now=now,
                  retention_days=d.missed_retention_days)}
    sms = await sms_gateway.load(request.app[DB])
    kept: dict[str, str] = {}
    if status:
        kept["status"] = status
    if removal:
        kept["removal"] = removal
    if chosen is not None:
        kept.update(chosen.query())
    here = {**kept, "view": view.value}
    # The page's number is only shown: the cursor decides what the page holds.
    number = _page_number(request.query.get("page", "")) if before is not None else 1
    return render("missed.html", request, {
        "rows": await _row_views(request, page.rows),
        "next_link": ("/missed?" + urlencode({**here, "before": page.next.token(),
                                              "page": str(number + 1)})
                      if page.next else ""),
        "first_link": "/missed?" + urlencode(here) if before is not None else "",
        "page": number,
        "view": view.value,
        "views": [v.value for v in View],
        "counts": counts,
        "view_links": {v.value: "/missed?" + urlencode({**kept, "view": v.value})
                       for v in View},
        "filter_keys": ([f"missed.status.{status}"] if status else [])
                       + ([f"missed.removal.{removal}"] if removal else []),
        "period": chosen,
        "clear_link": "/missed?" + urlencode({"view": view.value}),
        "back": request.rel_url.path_qs,
        "can_manage": can_manage(user.role),
        "notice": NOTICES.get(request.query.get("done", "")),
        "failure": _failure(request.query.get("done", ""), request.query.get("code", "")),
        "sms_gateway": sms.configured,
        "sms_message": sms.message,
        "error": period.error if period is not None else "",
    })


def _back(form_value: str) -> str:
    """Where to return after an action: a /missed page, never elsewhere."""
    if form_value.startswith("/missed") and not form_value.startswith("/missed/action") \
            and "\n" not in form_value and "\r" not in form_value:
        return form_value
    return "/missed"


def _with_done(location: str, done: str, code: str = "") -> str:
    base = location.split("#", 1)[0]
    parts = [p for p in base.partition("?")[2].split("&")
             if p and not p.startswith(("done=", "code="))]
    path = base.partition("?")[0]
    extra = [f"code={quote(code)}"] if code else []
    return path + "?" + "&".join([*parts, f"done={done}", *extra])


@login_required
async def action_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    key = text(form, "key")[: phone_numbers.MAX_INPUT]
    try:
        kind = ActionKind(text(form, "action"))
    except ValueError:
        raise web.HTTPBadRequest() from None
    if not allowed(kind, user.role):
        raise web.HTTPForbidden()
    back = _back(text(form, "back"))
    d = live(request.app)
    row = await missed_call_pages.open_row_of(request.app[DB], _numbering(d), key,
                                              now=clock.utc_now(),
                                              retention_days=d.missed_retention_days)
    if not action_fits(kind, row):
        return see_other(_with_done(back, "stale"))
    if kind is ActionKind.SMS:
        return await _sms(request, user.id, key, text(form, "sms_text"), back)
    await missed_call_store.add_action(request.app[DB], key, kind, user.id, clock.utc_now())
    return see_other(_with_done(back, kind.value))


async def _sms(request: web.Request, user_id: int, key: str, typed: str,
               back: str) -> web.StreamResponse:
    """Send the SMS through the gateway and record how it went; with no gateway, record
    an SMS sent by hand. A bad text or a key that is no phone number records nothing."""
    db = request.app[DB]
    gateway = await sms_gateway.load(db)
    if not gateway.configured:
        await missed_call_store.add_action(db, key, ActionKind.SMS, user_id, clock.utc_now(),
                                           SmsResult.MANUAL)
        return see_other(_with_done(back, "sms"))
    if not key.startswith("+"):
        return see_other(_with_done(back, "sms_not_a_number"))
    try:
        message = sms_gateway.clean_message(typed or gateway.message)
    except InvalidValue:
        return see_other(_with_done(back, "sms_text"))
    try:
        token = (request.app[SECRET_BOX].decrypt(gateway.token_encrypted)
                 if gateway.has_token else "")
        result = await sms_sender.send(gateway, token, key, message)
    except SecretKeyError:
        result = sms_sender.SendResult(False, None, "SecretKeyError")
    await missed_call_store.add_action(
        db, key, ActionKind.SMS, user_id, clock.utc_now(),
        SmsResult.SENT if result.ok else SmsResult.FAILED, result.status)
    # The status or the exception's class name only: never the gateway's text.
    log.info("SMS from a missed-call row: %s %s", "sent" if result.ok else "failed",
             result.status if result.status is not None else result.reason)
    if result.ok:
        return see_other(_with_done(back, "sms_sent"))
    return see_other(_with_done(back, "sms_failed",
                                str(result.status) if result.status else result.reason))


@login_required
async def count_api(request: web.Request) -> web.StreamResponse:
    """``{"count": active rows, "latest": ISO time of the newest missed call or null}``."""
    count, latest = await active_count(request.app)
    return web.json_response(
        {"count": count, "latest": latest.isoformat() if latest else None},
        headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class Bar:
    label_key: str
    count: int
    percent: int         # of the largest bar, for the width
    share: str           # of all rows, as the locale writes a percentage
    link: str


def _bars(counts: dict[str, int], prefix: str, param: str, period: Range, lang: str) -> list[Bar]:
    total = sum(counts.values())
    top = max(counts.values(), default=0)
    return [Bar(
        label_key=f"{prefix}.{name}", count=count,
        percent=round(100 * count / top) if top else 0,
        share=format_percent(count / total if total else 0, locale=_locale(lang)),
        link="/missed?" + urlencode({"view": "all", param: name, **period.query()}))
        for name, count in counts.items()]


@login_required
async def stats_page(request: web.Request) -> web.StreamResponse:
    lang = current_lang(request)
    period = parse_range(request, 30)
    if period is None:
        today = _today()
        period = Range(today - timedelta(days=29), today)
    d = live(request.app)
    summary = await missed_call_pages.period_stats(
        request.app[DB], _numbering(d), since=period.since, until=period.until,
        now=clock.utc_now(), retention_days=d.missed_retention_days)
    return render("missed_stats.html", request, {
        "period": period,
        "total": summary.total,
        "status_bars": _bars({s.value: n for s, n in summary.by_status.items()},
                             "missed.status", "status", period, lang),
        "removal_bars": _bars({r.value: n for r, n in summary.by_removal.items()},
                              "missed.removal", "removal", period, lang),
        "list_link": "/missed?" + urlencode({"view": "all", **period.query()}),
        "error": period.error,
    }, status=400 if period.error else 200)
