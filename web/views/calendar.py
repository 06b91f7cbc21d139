"""The calendar: callbacks laid out by month, week or day, and the same as iCalendar.

``/calendar?view=month|week|day&date=YYYY-MM-DD&agent=`` renders the grid
(crm/calendar.py decides its days); ``/calendar.ics`` with the same parameters answers
``text/calendar`` (crm/ical.py), one VEVENT per item with a stable UID. Agents see their
own agenda; supervisors and admins choose an agent or everyone.

Two sources feed it: callbacks (crm/callback_store.py) and ticket actions with a due
time (``ticket_store.actions_between``); ``items`` and ``ticket_items`` turn both into
the same ``Item``. Each item offers call, contact, new ticket and history links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web
from babel import Locale
from babel import dates as babel_dates

from crm import callback_store, callbacks, clock, contacts, ical, phone_numbers, ticket_store, users
from crm.calendar import Day, Period, View, period, place, shift, timing, weeks
from crm.callbacks import Callback
from crm.tickets import ActionState
from crm.users import User
from web import formatting, i18n
from web.appkeys import DB
from web.auth import current_lang, login_required, require_user
from web.deployment_setup import live
from web.templating import render
from web.views.callbacks import chosen_agent, contact_names, history_url, parse_day, zone

MAX_ITEMS = 500


@dataclass(frozen=True)
class Item:
    """One thing on the calendar (a callback today; a ticket action later)."""

    kind: str
    id: int
    time: str
    iso: str
    title: str
    agent: str
    urgency: str
    dial: str
    dial_shown: str
    contact_id: int | None
    history_url: str
    open_url: str


@dataclass(frozen=True)
class Asked:
    view: View
    anchor: date
    agent: int | None
    agent_param: str


async def _asked(request: web.Request, user: User) -> Asked:
    try:
        view = View(request.query.get("view", "month"))
    except ValueError:
        raise web.HTTPBadRequest(text="view: month, week or day") from None
    raw = request.query.get("date", "")
    anchor = parse_day(raw) if raw else clock.utc_now().astimezone(zone()).date()
    if anchor is None:
        raise web.HTTPBadRequest(text="date: YYYY-MM-DD")
    agent_param = request.query.get("agent", "")[:20]
    agent = await chosen_agent(request, user, agent_param)
    if isinstance(agent, str):
        raise web.HTTPBadRequest(text="agent: unknown")
    return Asked(view, anchor, agent, agent_param if callbacks.can_manage(user.role) else "")


async def _callbacks(request: web.Request, asked: Asked, p: Period) -> list[Callback]:
    return await callback_store.search(request.app[DB], callback_store.Query(
        user_id=asked.agent, since=p.start(zone()), until=p.end(zone()), limit=MAX_ITEMS))


async def items(request: web.Request, rows: list[Callback]) -> list[tuple[datetime, Item]]:
    """Everything the calendar shows, with when it happens."""
    lang = current_lang(request)
    region = live(request.app).region
    now = clock.utc_now()
    people = {u.id: u.display_name for u in await users.list_users(request.app[DB])}
    names = await contact_names(request, rows)
    found = []
    for cb in rows:
        first = cb.phones[0] if cb.phones else ""
        name = names.get(cb.contact_id, "") if cb.contact_id else ""
        title = name or (phone_numbers.display(first, region) if first else "")
        if cb.reason:
            title = f"{title} · {cb.reason.splitlines()[0]}" if title else cb.reason
        found.append((cb.due_at, Item(
            kind="callback", id=cb.id,
            time=formatting.format_time(cb.due_at, lang, zone()), iso=cb.due_at.isoformat(),
            title=title, agent=people.get(cb.user_id, ""),
            urgency=callbacks.urgency(cb, now).value,
            dial=first, dial_shown=phone_numbers.display(first, region) if first else "",
            contact_id=cb.contact_id if name else None, history_url=history_url(cb),
            open_url=f"/callbacks?{urlencode({'closed': '1', 'contact': f'#{cb.contact_id}'})}"
            if cb.contact_id else "/callbacks?closed=1")))
    return found


async def ticket_items(request: web.Request, asked: Asked,
                       p: Period) -> list[tuple[datetime, Item]]:
    """Ticket actions due in the period (the agent's own, or everyone's), as items; the
    call link dials the contact's first number."""
    db = request.app[DB]
    lang = current_lang(request)
    region = live(request.app).region
    now = clock.utc_now()
    actions = await ticket_store.actions_between(db, p.start(zone()), p.end(zone()),
                                                 asked.agent)
    first_phone: dict[int, str] = {}
    for contact_id in sorted({a.contact_id for a in actions})[:MAX_ITEMS]:
        contact = await contacts.get_contact(db, contact_id)
        first_phone[contact_id] = contact.phones[0].e164 if contact and contact.phones else ""
    found = []
    for action in actions[:MAX_ITEMS]:
        dial = first_phone.get(action.contact_id, "")
        line = action.description.splitlines()[0] if action.description else ""
        found.append((action.due_at, Item(
            kind="ticket", id=action.action_id,
            time=formatting.format_time(action.due_at, lang, zone()),
            iso=action.due_at.isoformat(),
            title=" · ".join(part for part in (action.contact_name, action.subject, line)
                             if part),
            agent=action.agent_name or "",
            urgency=timing(action.due_at, now, action.state is not ActionState.PENDING),
            dial=dial, dial_shown=phone_numbers.display(dial, region) if dial else "",
            contact_id=action.contact_id,
            history_url="/history?" + urlencode({"contact": action.contact_id}),
            open_url=f"/tickets/{action.ticket_id}")))
    return found


def _link(asked: Asked, view: View, day: date) -> str:
    params = {"view": view.value, "date": day.isoformat()}
    if asked.agent_param:
        params["agent"] = asked.agent_param
    return "/calendar?" + urlencode(params)


@login_required
async def calendar_page(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    asked = await _asked(request, user)
    lang = current_lang(request)
    locale = Locale.parse(formatting.babel_locale(lang))
    p = period(asked.view, asked.anchor, locale.first_week_day)
    found = await items(request, await _callbacks(request, asked, p))
    found += await ticket_items(request, asked, p)
    days: list[Day[Item]] = place(p, found, zone())
    today = clock.utc_now().astimezone(zone()).date()
    loc = formatting.babel_locale(lang)
    if asked.view is View.MONTH:
        heading = babel_dates.format_date(asked.anchor, "LLLL y", locale=loc)
    elif asked.view is View.WEEK:
        heading = babel_dates.format_interval(p.first, p.last, "yMMMd", locale=loc)
    else:
        heading = babel_dates.format_date(asked.anchor, "full", locale=loc)
    weekday_names = [babel_dates.format_date(p.first + timedelta(days=n), "EEE", locale=loc)
                     for n in range(7)]
    manage = callbacks.can_manage(user.role)
    ics = {"view": asked.view.value, "date": asked.anchor.isoformat()}
    if asked.agent_param:
        ics["agent"] = asked.agent_param
    return render("calendar.html", request, {
        "view": asked.view.value,
        "views": [v.value for v in View],
        "view_links": {v.value: _link(asked, v, asked.anchor) for v in View},
        "heading": heading,
        "prev_link": _link(asked, asked.view, shift(asked.view, asked.anchor, -1)),
        "next_link": _link(asked, asked.view, shift(asked.view, asked.anchor, 1)),
        "today_link": _link(asked, asked.view, today),
        "weeks": weeks(days) if asked.view is View.MONTH else [],
        "days": days,
        "weekday_names": weekday_names,
        "day_labels": {d.day: babel_dates.format_date(d.day, "EEEE d MMM", locale=loc)
                       for d in days},
        "day_links": {d.day: _link(asked, View.DAY, d.day) for d in days},
        "today": today,
        "agents": await users.list_users(request.app[DB]) if manage else [],
        "agent_param": asked.agent_param,
        "date_param": asked.anchor.isoformat(),
        "ics_url": "/calendar.ics?" + urlencode(ics),
        "empty": not any(d.items for d in days),
    })


@login_required
async def calendar_ics(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    asked = await _asked(request, user)
    lang = current_lang(request)
    locale = Locale.parse(formatting.babel_locale(lang))
    p = period(asked.view, asked.anchor, locale.first_week_day)
    rows = await _callbacks(request, asked, p)
    found = dict((cb_item.id, (at, cb_item)) for at, cb_item in await items(request, rows))
    base = f"{request.scheme}://{request.host}"
    host = request.host.split(":", 1)[0] or "headset"
    region = live(request.app).region
    events = []
    for cb in rows:
        _, item = found[cb.id]
        description = "\n".join(
            [*(phone_numbers.display(n, region) for n in cb.phones),
             *([cb.queue] if cb.queue else []), *([cb.reason] if cb.reason else []),
             *(f"{link.name}: {link.url}" for link in cb.links)])
        events.append(ical.Event(
            uid=f"callback-{cb.id}@{host}", start=cb.due_at,
            end=cb.due_at + timedelta(minutes=15),
            summary=i18n.translate(lang, "callbacks.calendar.summary",
                                   title=item.title or f"#{cb.id}"),
            description=description, url=f"{base}{item.open_url}"))
    for at, item in await ticket_items(request, asked, p):
        events.append(ical.Event(
            uid=f"ticket-action-{item.id}@{host}", start=at, end=at + timedelta(minutes=15),
            summary=i18n.translate(lang, "callbacks.calendar.ticket_summary", title=item.title),
            description=item.dial_shown, url=f"{base}{item.open_url}"))
    events.sort(key=lambda event: (event.start, event.uid))
    body = ical.calendar(events, clock.utc_now(), name="Headset")
    return web.Response(body=body.encode("utf-8"), headers={
        "Content-Type": "text/calendar; charset=utf-8",
        "Content-Disposition": 'attachment; filename="headset-calendar.ics"',
        "Cache-Control": "no-store"})
