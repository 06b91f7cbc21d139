"""Callback pages: the panel (filters, rows by due time, actions) and the create form.

Decisions are crm/callbacks.py's (validation, transitions, who may act); storage is
crm/callback_store.py. This module reads query strings and forms, asks those two, and
turns callbacks into what the templates show. Agents see and act on their own callbacks;
supervisors and admins choose an agent (or everyone), create for anyone and assign.
Someone else's callback answers 404 to an agent, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from aiohttp import web

from crm import callback_store, callbacks, clock, contacts, ids, phone_numbers, users
from crm.callbacks import (
    Action,
    Callback,
    EventKind,
    IllegalAction,
    InvalidCallback,
    Urgency,
)
from crm.errors import CrmError, InvalidValue, NotFound
from crm.users import User
from web import formatting, i18n, queue_choice
from web.appkeys import DB
from web.auth import current_lang, login_required, require_user
from web.deployment_setup import live
from web.forms import FieldError, FormErrors, text
from web.templating import render
from web.views.login import see_other

FILTER_FIELDS = ("agent", "from", "to", "queue", "phone", "contact", "reason", "closed")
NOTICES = {name: f"callbacks.notice.{name}" for name in (
    "created", "complete", "discard", "postpone", "assign")}
ERRORS = {"stale": "callbacks.error.stale", "due_past": "callbacks.error.due_past",
          "due_at": "callbacks.error.due_at", "due_far": "callbacks.error.due_far",
          "agent": "callbacks.error.agent"}


def zone() -> tzinfo:
    """The zone typed times are read in and shown in (the deployment's)."""
    return formatting.deployment_zone()


# -- what the templates show ---------------------------------------------------------------

@dataclass(frozen=True)
class PhoneView:
    dial: str
    shown: str


@dataclass(frozen=True)
class LogView:
    """One line of a callback's log: what happened, when, by whom, and to what."""

    label_key: str
    when: str
    iso: str
    who: str
    detail: str          # the new time (created, postponed) or agent (assigned)


@dataclass(frozen=True)
class RowView:
    id: int
    due: str
    due_iso: str
    expires: str
    expires_iso: str
    urgency: str
    state: str
    agent: str
    queue: str
    contact_id: int | None
    contact_name: str
    phones: list[PhoneView]
    reason: str
    links: list[callbacks.Link]
    open: bool
    history_url: str
    log: list[LogView]


async def contact_names(request: web.Request, rows: list[Callback]) -> dict[int, str]:
    return await callback_store.contact_names(
        request.app[DB], [cb.contact_id for cb in rows if cb.contact_id is not None])


def history_url(cb: Callback) -> str:
    if cb.contact_id is not None:
        return "/history?" + urlencode({"contact": cb.contact_id})
    return "/history?" + urlencode({"number": cb.phones[0] if cb.phones else ""})


async def row_views(request: web.Request, rows: list[Callback], now: datetime) -> list[RowView]:
    lang = current_lang(request)
    region = live(request.app).region
    people = {u.id: u.display_name for u in await users.list_users(request.app[DB])}
    names = await contact_names(request, rows)
    logs = await callback_store.events_of(request.app[DB], [cb.id for cb in rows])
    views = []
    for cb in rows:
        urgency = callbacks.urgency(cb, now)
        log = [LogView(
            label_key=f"callbacks.event.{event.kind.value}",
            when=formatting.format_datetime(event.at, lang, zone()), iso=event.at.isoformat(),
            who=people.get(event.by_user_id, "") if event.by_user_id else "",
            detail=people.get(event.user_id, "") if event.kind is EventKind.ASSIGNED
            and event.user_id else formatting.format_datetime(event.due_at, lang, zone())
            if event.due_at else "") for event in reversed(logs.get(cb.id, []))]
        views.append(RowView(
            id=cb.id, due=formatting.format_datetime(cb.due_at, lang, zone()),
            due_iso=cb.due_at.isoformat(),
            expires=formatting.format_datetime(cb.expires_at, lang, zone()),
            expires_iso=cb.expires_at.isoformat(),
            urgency=urgency.value, state=callbacks.state_at(cb, now).value,
            agent=people.get(cb.user_id, ""), queue=cb.queue, contact_id=cb.contact_id,
            contact_name=names.get(cb.contact_id, "") if cb.contact_id else "",
            phones=[PhoneView(number, phone_numbers.display(number, region))
                    for number in cb.phones],
            reason=cb.reason, links=list(cb.links),
            open=urgency not in (Urgency.CLOSED, Urgency.EXPIRED),
            history_url=history_url(cb), log=log))
    return views


# -- who is looked at ----------------------------------------------------------------------

def parse_day(value: str) -> date | None:
    if len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def day_start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


async def chosen_agent(request: web.Request, user: User, value: str) -> int | str | None:
    """The agent whose callbacks to show: an id, None for everyone, or an error key.

    Agents always get themselves: asking for someone else is not an error, just ignored.
    """
    if not callbacks.can_manage(user.role):
        return user.id
    if value == "all":
        return None
    if value == "":
        return user.id
    agent_id = ids.row_id(value)
    if agent_id is None:
        return "callbacks.error.agent"
    other = await users.get_user(request.app[DB], agent_id)
    return other.id if other is not None else "callbacks.error.agent"


# -- the panel -----------------------------------------------------------------------------

@login_required
async def panel(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    filters = {name: request.query.get(name, "")[:100] for name in FILTER_FIELDS}
    errors = FormErrors()
    agent = await chosen_agent(request, user, filters["agent"])
    if isinstance(agent, str):
        errors.add("agent", agent)
        agent = user.id
    tz = zone()
    since = until = None
    if filters["from"]:
        start = parse_day(filters["from"])
        if start is None:
            errors.add("from", "callbacks.error.date")
        else:
            since = day_start(start, tz)
    if filters["to"]:
        end = parse_day(filters["to"])
        if end is None:
            errors.add("to", "callbacks.error.date")
        else:
            until = day_start(end + timedelta(days=1), tz)
    if since is not None and until is not None and since >= until:
        errors.add("to", "callbacks.error.range_order")
    # The select sends a queue or campaign; other text (a link from before queues
    # existed) still finds callbacks whose free-text queue contains it.
    queue, queue_text = queue_choice.Chosen(), ""
    if queue_choice.is_ref(filters["queue"]):
        try:
            queue = await queue_choice.chosen(request.app[DB], filters["queue"],
                                              live_only=False)
        except CrmError as exc:
            errors.add("queue", exc.key, **exc.params)
    else:
        queue_text = filters["queue"]
    rows: list[Callback] = []
    if not errors:
        rows = await callback_store.search(request.app[DB], callback_store.Query(
            user_id=agent, since=since, until=until, queue=queue_text,
            queue_id=queue.queue_id, campaign_id=queue.campaign_id,
            phone=filters["phone"], contact=filters["contact"], reason=filters["reason"],
            pending_only=filters["closed"] != "1"))
    now = clock.utc_now()
    manage = callbacks.can_manage(user.role)
    people = await users.list_users(request.app[DB]) if manage else []
    return render("callbacks.html", request, {
        "rows": await row_views(request, rows, now),
        "urgency_labels": {u.value: i18n.translate(current_lang(request),
                                                   f"callbacks.urgency.{u.value}")
                           for u in Urgency},
        "filters": filters,
        "errors": errors,
        "queue_choices": await queue_choice.choices(request.app[DB], include_archived=True),
        "agents": people,
        "assignees": [u for u in people if u.active],
        "can_manage": manage,
        "back": request.rel_url.path_qs,
        "notice": NOTICES.get(request.query.get("done", "")),
        "action_error": ERRORS.get(request.query.get("error", "")),
        "calendar_url": "/calendar?" + urlencode({"agent": filters["agent"]})
        if manage and filters["agent"] else "/calendar",
        "filtered": any(filters[name] for name in FILTER_FIELDS if name != "agent"),
    }, status=400 if errors else 200)


# -- creating ------------------------------------------------------------------------------

def _form_values(form: dict[str, str | list[str]] | None = None) -> dict[str, object]:
    return {"agent": "", "queue": "", "due": "", "expiry": str(callbacks.DEFAULT_EXPIRY),
            "phones": ["", "", ""], "reason": "", "links": [("", ""), ("", "")],
            "contact_id": "", **(form or {})}


async def _render_form(request: web.Request, values: dict[str, object], errors: FormErrors,
                       contact: contacts.Contact | None, status: int = 200) -> web.Response:
    user = require_user(request)
    manage = callbacks.can_manage(user.role)
    return render("callbacks_new.html", request, {
        "values": values, "errors": errors, "contact": contact,
        "agents": await users.list_users(request.app[DB]) if manage else [],
        "can_manage": manage,
        "queue_choices": await queue_choice.choices(request.app[DB], include_archived=False),
        "min_expiry": formatting.format_number(callbacks.MIN_EXPIRY, current_lang(request)),
        "max_expiry": formatting.format_number(callbacks.MAX_EXPIRY, current_lang(request)),
        "max_phones": callbacks.MAX_PHONES,
    }, status=status)


async def _contact(request: web.Request, value: str) -> contacts.Contact | str | None:
    """The contact a callback is about: None for none, or an error key."""
    if not value:
        return None
    contact_id = ids.row_id(value)
    if contact_id is None:
        return "callbacks.error.contact"
    found = await contacts.get_contact(request.app[DB], contact_id)
    return found if found is not None else "callbacks.error.contact"


@login_required
async def new_form(request: web.Request) -> web.StreamResponse:
    contact = await _contact(request, request.query.get("contact_id", "")[:20])
    if isinstance(contact, str):
        raise web.HTTPNotFound()
    values = _form_values()
    if contact is not None:
        phones = [p.e164 for p in contact.phones][: callbacks.MAX_PHONES]
        values["phones"] = phones + [""] * max(0, 3 - len(phones))
        values["contact_id"] = str(contact.id)
    return await _render_form(request, values, FormErrors(), contact)


@login_required
async def new_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    phones = [text(form, f"phone_{n}") for n in range(callbacks.MAX_PHONES)]
    links = [(text(form, f"link_name_{n}"), text(form, f"link_url_{n}"))
             for n in range(callbacks.MAX_LINKS)]
    values = _form_values({
        "agent": text(form, "agent"), "queue": text(form, "queue"), "due": text(form, "due"),
        "expiry": text(form, "expiry"), "reason": text(form, "reason"),
        "contact_id": text(form, "contact_id")})
    values["phones"] = [p for p in phones if p] or ["", "", ""]
    values["links"] = [pair for pair in links if pair[0] or pair[1]] or [("", ""), ("", "")]
    errors = FormErrors()
    owner = user.id
    agent_text = text(form, "agent")
    if agent_text and agent_text != str(user.id):
        other = None
        agent_id = ids.row_id(agent_text)
        if agent_id is not None:
            other = await users.get_user(request.app[DB], agent_id)
        if other is None or not other.active:
            errors.add("agent", "callbacks.error.agent")
        elif not callbacks.may_create_for(user.role, user.id, other.id):
            raise web.HTTPForbidden()
        else:
            owner = other.id
    contact = await _contact(request, text(form, "contact_id"))
    if isinstance(contact, str):
        errors.add("contact_id", contact)
        contact = None
    queue = queue_choice.Chosen()
    try:
        queue = await queue_choice.chosen(request.app[DB], text(form, "queue"), live_only=True)
    except CrmError as exc:
        errors.add("queue", exc.key, **exc.params)
    d = live(request.app)
    new = None
    try:
        new = callbacks.validate(
            user_id=owner, queue=queue.name,
            contact_id=contact.id if contact else None, due=text(form, "due"),
            expiry=text(form, "expiry"), phones=phones, reason=text(form, "reason"),
            links=links, region=d.region, area_code=d.area_code, zone=zone(),
            now=clock.utc_now())
    except InvalidCallback as exc:
        for name, (key, params) in exc.errors.items():
            field = "phone_0" if name == "phones" else name.replace("link_", "link_name_")
            errors.setdefault(field, FieldError(key, params))
    if errors or new is None:
        return await _render_form(request, values, errors, contact, status=400)
    new = replace(new, queue_id=queue.queue_id, campaign_id=queue.campaign_id)
    await callback_store.create(request.app[DB], new, user.id, clock.utc_now())
    return see_other("/callbacks?done=created")


# -- acting on one -------------------------------------------------------------------------

def _back(value: str) -> str:
    """Where to return after an action: the panel or the calendar, never elsewhere."""
    if value.startswith(("/callbacks", "/calendar")) and "\n" not in value \
            and "\r" not in value and not value.startswith(("/callbacks/", "/calendar.")):
        return value
    return "/callbacks"


def _with(location: str, name: str, value: str) -> str:
    path, _, query = location.partition("?")
    parts = [p for p in query.split("&") if p and not p.startswith(("done=", "error="))]
    return path + "?" + "&".join([*parts, f"{name}={value}"])


@login_required
async def action_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    db = request.app[DB]
    callback_id = int(request.match_info["callback_id"])
    form = await request.post()
    try:
        action = Action(text(form, "action"))
    except ValueError:
        raise web.HTTPBadRequest() from None
    current = await callback_store.get(db, callback_id)
    if current is None or not callbacks.may_act(user.role, user.id, current.user_id):
        raise web.HTTPNotFound()
    if not callbacks.may_perform(user.role, user.id, current.user_id, action):
        raise web.HTTPForbidden()
    back = _back(text(form, "back"))
    now = clock.utc_now()
    due_at = None
    assignee = None
    if action is Action.POSTPONE:
        try:
            due_at = callbacks.parse_due(text(form, "due"), zone(), now)
        except InvalidValue as exc:
            return see_other(_with(back, "error", exc.key.rpartition(".")[2]))
    elif action is Action.ASSIGN:
        value = text(form, "user_id")
        user_id = ids.row_id(value)
        other = await users.get_user(db, user_id) if user_id is not None else None
        if other is None or not other.active:
            return see_other(_with(back, "error", "agent"))
        assignee = other.id
    try:
        await callback_store.act(db, callback_id, action, user.id, now, due_at=due_at,
                                 user_id=assignee)
    except (IllegalAction, NotFound):
        return see_other(_with(back, "error", "stale"))
    return see_other(_with(back, "done", action.value))
