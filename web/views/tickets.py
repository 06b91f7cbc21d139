"""Ticket pages: the filtered list, opening a ticket for a contact, the ticket itself
(its fields, its actions and the log of every change).

Who sees what is crm/tickets.py's ``Viewer``: agents the tickets assigned to them, those
of contacts they own and those with an action assigned to them; supervisors and admins
all of them. A ticket someone may not see answers 404, as if it did not exist. Anyone
logged in may open a ticket for any contact. Forms follow post/redirect/get; an invalid
form re-renders with its errors and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from crm import clock, contacts, ticket_store, tickets, users
from crm.contacts import Contact
from crm.errors import CrmError
from crm.ids import page_number, row_id
from crm.ticket_store import Ticket
from crm.tickets import ActionDraft, LogEntry, Priority, TicketDraft, TicketState, Viewer
from crm.users import User
from web import formatting, i18n
from web.appkeys import DB
from web.auth import current_lang, login_required, require_user
from web.forms import FormErrors, text
from web.templating import render
from web.views.contacts import numbering, phone_views
from web.views.login import see_other

INVALID = 400
NOTICES = {
    "created": "tickets.notice.created",
    "saved": "tickets.notice.saved",
    "unchanged": "tickets.notice.unchanged",
    "action_added": "tickets.notice.action_added",
    "action_changed": "tickets.notice.action_changed",
}
_TICKET_FIELDS = ("subject", "description", "priority", "agent_id", "group")
_ACTION_FIELDS = ("action_description", "action_due", "action_agent")
# Which form field an error raised by the store belongs to.
_FIELD_OF_KEY = {
    "tickets.error.bad_agent": "agent_id",
    "tickets.error.contact_not_found": "subject",
    "tickets.error.too_many_actions": "action_description",
}


@dataclass(frozen=True)
class LogRow:
    """One log entry as the page shows it: every text already in the reader's words."""

    at: datetime
    who: str
    what: str
    action: str
    old: str
    new: str


def _viewer(request: web.Request) -> Viewer:
    return Viewer.of(require_user(request))


async def _visible_ticket(request: web.Request) -> Ticket:
    """The ticket named in the URL if this user may see it, else 404."""
    ticket_id = row_id(request.match_info["ticket_id"])
    ticket = None if ticket_id is None else await ticket_store.get_ticket(
        request.app[DB], ticket_id)
    if ticket is None or not ticket.visible_to(_viewer(request)):
        raise web.HTTPNotFound()
    return ticket


async def _agents(request: web.Request) -> list[User]:
    return [u for u in await users.list_users(request.app[DB]) if u.active]


def _shown_value(field: str, value: str, lang: str) -> str:
    if not value:
        return ""
    if field == "priority":
        return i18n.translate(lang, f"tickets.priority.{value}")
    if field == "action.state":
        return i18n.translate(lang, f"tickets.action_state.{value}")
    if field == "action.due":
        return formatting.format_datetime(clock.from_db(value), lang,
                                          formatting.deployment_zone())
    return value


def log_rows(entries: Sequence[LogEntry], ticket: Ticket, lang: str) -> list[LogRow]:
    """The log, newest first, in ``lang``."""
    actions = {a.id: a.description for a in ticket.actions}
    return [LogRow(
        at=e.at, who=e.user_name,
        what=i18n.translate(lang, f"tickets.log.{e.field}"),
        # Which action an entry is about, unless the entry itself names it.
        action=("" if e.action_id is None or e.field == "action.added"
                else actions.get(e.action_id, "")),
        old=_shown_value(e.field, e.old, lang), new=_shown_value(e.field, e.new, lang),
    ) for e in reversed(entries)]


# -- The list ----------------------------------------------------------------------------

@login_required
async def ticket_list(request: web.Request) -> web.StreamResponse:
    db = request.app[DB]
    viewer = _viewer(request)
    reading = tickets.read_filter(request.query, formatting.deployment_zone())
    errors = FormErrors()
    for name, exc in reading.errors.items():
        errors.add(name, exc.key, **exc.params)
    typed = {name: request.query.get(name, "")[:100] for name in tickets.FILTER_FIELDS}
    kept = {k: v for k, v in typed.items() if v}
    page = None
    if not errors:
        region, area_code = numbering(request)
        page = await ticket_store.search(db, reading.filter, viewer,
                                         page=page_number(request.query.get("page", "")),
                                         region=region, area_code=area_code)

    def page_url(number: int) -> str:
        return "/tickets?" + urlencode({**kept, "page": str(number)})

    contact = None
    if reading.filter.contact_id is not None:
        contact = await contacts.get_contact(db, reading.filter.contact_id)
    others = {k: v for k, v in kept.items() if k != "contact"}
    return render("tickets.html", request, {
        "filters": typed,
        "filtered": bool(kept),
        "errors": errors,
        "rows": page.rows if page else [],
        "page": page.page if page else 1,
        "prev_url": page_url(page.page - 1) if page and page.page > 1 else None,
        "next_url": page_url(page.page + 1) if page and page.has_next else None,
        "states": [s.value for s in TicketState],
        "priorities": [p.value for p in Priority],
        "agents": await _agents(request),
        "companies": await contacts.list_companies(db, 300),
        "contact": contact,
        "without_contact_url": "/tickets" + ("?" + urlencode(others) if others else ""),
        "sees_everyone": viewer.sees_everyone,
    }, status=INVALID if errors else 200)


# -- Creating ----------------------------------------------------------------------------

def _read_ticket_form(form: MultiDictProxy[str | Any]) -> dict[str, str]:
    return {name: text(form, name) for name in _TICKET_FIELDS}


def _read_action_form(form: MultiDictProxy[str | Any]) -> dict[str, str]:
    return {name: text(form, name) for name in _ACTION_FIELDS}


def _clean_ticket(values: dict[str, str], contact_id: int,
                  errors: FormErrors) -> TicketDraft | None:
    subject = errors.catch("subject", tickets.clean_subject, values["subject"])
    description = errors.catch("description", tickets.clean_description,
                               values["description"])
    priority = errors.catch("priority", tickets.parse_priority, values["priority"])
    agent_id = errors.catch("agent_id", tickets.parse_user_id, values["agent_id"])
    group = errors.catch("group", tickets.clean_group, values["group"])
    if errors or subject is None or description is None or priority is None or group is None:
        return None
    return TicketDraft(contact_id, subject, description, priority, agent_id, group)


def _clean_action(values: dict[str, str], errors: FormErrors, *,
                  optional: bool) -> ActionDraft | None:
    """The action typed in, or None (with errors recorded, unless it was left empty
    where ``optional``)."""
    # The agent is preselected: only a description or a due time means "add an action".
    if optional and not (values["action_description"].strip() or values["action_due"].strip()):
        return None
    description = errors.catch("action_description", tickets.clean_action,
                               values["action_description"])
    due = errors.catch("action_due", tickets.parse_due, values["action_due"],
                       formatting.deployment_zone())
    agent_id = errors.catch("action_agent", tickets.parse_user_id, values["action_agent"])
    if description is None or "action_due" in errors or "action_agent" in errors:
        return None
    return ActionDraft(description, due, agent_id)


def _add_crm_error(errors: FormErrors, exc: CrmError, default: str) -> None:
    errors.add(_FIELD_OF_KEY.get(exc.key, default), exc.key, **exc.params)


async def _contact_of_query(request: web.Request, raw: str) -> Contact:
    contact_id = row_id(raw)
    contact = None if contact_id is None else await contacts.get_contact(
        request.app[DB], contact_id)
    if contact is None:
        raise web.HTTPNotFound()
    return contact


async def _new_page(request: web.Request, contact: Contact, values: dict[str, str],
                    errors: FormErrors, status: int = 200) -> web.Response:
    return render("ticket_new.html", request, {
        "contact": contact, "values": values, "errors": errors,
        "priorities": [p.value for p in Priority], "agents": await _agents(request),
    }, status=status)


@login_required
async def new_form(request: web.Request) -> web.StreamResponse:
    contact = await _contact_of_query(request, request.query.get("contact_id", ""))
    user = require_user(request)
    values = {"subject": "", "description": "", "priority": Priority.NORMAL.value,
              "agent_id": str(user.id), "group": "", "action_description": "",
              "action_due": "", "action_agent": str(user.id)}
    return await _new_page(request, contact, values, FormErrors())


@login_required
async def new_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    contact = await _contact_of_query(request, text(form, "contact_id"))
    user = require_user(request)
    values = {**_read_ticket_form(form), **_read_action_form(form)}
    errors = FormErrors()
    draft = _clean_ticket(values, contact.id, errors)
    action = _clean_action(values, errors, optional=True)
    if draft is not None and not errors:
        try:
            ticket_id = await ticket_store.create_ticket(request.app[DB], draft, user, action)
        except CrmError as exc:
            _add_crm_error(errors, exc, "subject")
        else:
            return see_other(f"/tickets/{ticket_id}?done=created")
    return await _new_page(request, contact, values, errors, status=INVALID)


# -- One ticket --------------------------------------------------------------------------

def _values_of(ticket: Ticket, user: User) -> dict[str, str]:
    return {"subject": ticket.subject, "description": ticket.description,
            "priority": ticket.priority.value, "agent_id": str(ticket.agent_id or ""),
            "group": ticket.group, "action_description": "", "action_due": "",
            "action_agent": str(user.id)}


async def _detail(request: web.Request, ticket: Ticket, values: dict[str, str],
                  errors: FormErrors, status: int = 200) -> web.Response:
    db = request.app[DB]
    contact = await contacts.get_contact(db, ticket.contact_id)
    entries = await ticket_store.ticket_log(db, ticket.id)
    return render("ticket.html", request, {
        "ticket": ticket,
        "state": ticket.state.value,
        "contact": contact,
        "phones": phone_views(request, contact) if contact else [],
        "values": values,
        "errors": errors,
        "priorities": [p.value for p in Priority],
        "agents": await _agents(request),
        "log": log_rows(entries, ticket, current_lang(request)),
        "notice": NOTICES.get(request.query.get("done", "")) if status == 200 else None,
    }, status=status)


@login_required
async def ticket_page(request: web.Request) -> web.StreamResponse:
    ticket = await _visible_ticket(request)
    return await _detail(request, ticket, _values_of(ticket, require_user(request)),
                         FormErrors())


@login_required
async def edit_submit(request: web.Request) -> web.StreamResponse:
    ticket = await _visible_ticket(request)
    user = require_user(request)
    form = await request.post()
    values = {**_values_of(ticket, user), **_read_ticket_form(form)}
    errors = FormErrors()
    draft = _clean_ticket(values, ticket.contact_id, errors)
    if draft is not None:
        try:
            changed = await ticket_store.update_ticket(request.app[DB], ticket.id, draft, user)
        except CrmError as exc:
            _add_crm_error(errors, exc, "subject")
        else:
            return see_other(f"/tickets/{ticket.id}?done={'saved' if changed else 'unchanged'}")
    return await _detail(request, ticket, values, errors, status=INVALID)


@login_required
async def action_submit(request: web.Request) -> web.StreamResponse:
    """Add an action to the ticket."""
    ticket = await _visible_ticket(request)
    user = require_user(request)
    form = await request.post()
    values = {**_values_of(ticket, user), **_read_action_form(form)}
    errors = FormErrors()
    action = _clean_action(values, errors, optional=False)
    if action is not None:
        try:
            await ticket_store.add_action(request.app[DB], ticket.id, action, user)
        except CrmError as exc:
            _add_crm_error(errors, exc, "action_description")
        else:
            return see_other(f"/tickets/{ticket.id}?done=action_added#actions")
    return await _detail(request, ticket, values, errors, status=INVALID)


@login_required
async def action_state_submit(request: web.Request) -> web.StreamResponse:
    """Mark one of the ticket's actions done or cancelled, or reopen it."""
    ticket = await _visible_ticket(request)
    user = require_user(request)
    action_id = row_id(request.match_info["action_id"])
    if action_id is None or all(a.id != action_id for a in ticket.actions):
        raise web.HTTPNotFound()
    form = await request.post()
    errors = FormErrors()
    event = errors.catch(f"action-{action_id}", tickets.parse_event, text(form, "event"))
    if event is not None:
        try:
            await ticket_store.change_action(request.app[DB], ticket.id, action_id, event,
                                             user)
        except CrmError as exc:
            errors.add(f"action-{action_id}", exc.key, **exc.params)
        else:
            return see_other(f"/tickets/{ticket.id}?done=action_changed#actions")
    return await _detail(request, ticket, _values_of(ticket, user), errors, status=INVALID)
