"""Call history pages: the filtered list, its CSV export, and "my last 50 calls".

Every logged-in user has a history; what it contains is decided by crm/call_history.py
(an agent sees their own calls, supervisors and admins everyone's). The filter lives in
the query string, so a filtered page can be bookmarked and the export link carries the
same filter. A value the form cannot read is shown as an error on its field and the page
lists nothing (status 400) rather than a wider list than was asked for.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import tzinfo
from urllib.parse import urlencode

from aiohttp import web

from crm import (
    call_history,
    call_records,
    clock,
    contact_export,
    contacts,
    disposition_catalog,
    users,
)
from crm.call_flow import Outcome
from crm.call_history import FilterReading, HistoryCall, HistoryFilter, Viewer
from crm.errors import InvalidValue
from crm.ids import page_number
from crm.users import User
from web import formatting, i18n, queue_choice
from web.appkeys import DB, DEPLOYMENT
from web.auth import current_lang, login_required, require_user
from web.forms import FormErrors
from web.templating import render

INVALID = 400
# Calls the contact page shows; the full list is /history?contact=<id>.
CONTACT_CALLS = 10
# The query-string names the filter form uses (crm.call_history.read_filter reads them).
FILTER_FIELDS = ("direction", "from", "to", "number", "contact", "agent", "company",
                 "company_name", "list", "outcome", "disposition", "queue")


def _plan(request: web.Request) -> tuple[str, str]:
    """How the deployment reads phone numbers: region and local area code."""
    settings = request.app[DEPLOYMENT].current
    return settings.region, settings.area_code


def _zone() -> tzinfo:
    return formatting.deployment_zone()


def _typed(request: web.Request) -> dict[str, str]:
    """The filter values as typed (echoed back into the form), trimmed to a sane size."""
    return {name: request.query.get(name, "")[:100] for name in FILTER_FIELDS}


def _errors(reading: FilterReading) -> FormErrors:
    errors = FormErrors()
    for name, exc in reading.errors.items():
        errors.add(name, exc.key, **exc.params)
    return errors


async def _read_filter(request: web.Request) -> FilterReading:
    """The filter in the URL. The company is the combobox's pick (``company``, an id);
    a name typed without one (a page without script) is looked up, and one that names
    no company is an error on the field rather than no filter at all."""
    reading = call_history.read_filter(request.query, _zone(), *_plan(request))
    if "company" in reading.errors:
        # Shown on the field a person types in (the id is a hidden input).
        errors = {("company_name" if k == "company" else k): v
                  for k, v in reading.errors.items()}
        return FilterReading(reading.filter, errors)
    typed = request.query.get("company_name", "").strip()
    if reading.filter.company_id is not None or not typed:
        return reading
    found = await contacts.company_named(request.app[DB], typed[: contacts.MAX_NAME])
    if found is None:
        problem = InvalidValue("unknown company", key="contacts.error.unknown_company",
                               company=typed[:60])
        return FilterReading(reading.filter, {**reading.errors, "company_name": problem})
    return FilterReading(replace(reading.filter, company_id=found.id), reading.errors)


async def _company_name(request: web.Request, where: HistoryFilter) -> str:
    """The picked company's name, shown in the combobox (a bookmarked ``company=<id>``
    has no name with it)."""
    if where.company_id is None:
        return request.query.get("company_name", "")[:100]
    company = await contacts.get_contact(request.app[DB], where.company_id)
    return company.name if company is not None and company.is_company else ""


async def _link_calls(request: web.Request) -> None:
    """Read the numbers of calls the gateway recorded since the last look."""
    region, area_code = _plan(request)
    await call_records.link_pending(request.app[DB], region, area_code)


async def _form_options(request: web.Request, user: User,
                        where: HistoryFilter) -> dict[str, object]:
    db = request.app[DB]
    contact = None
    if where.contact_id is not None:
        contact = await contacts.get_contact(db, where.contact_id)
    # Agents see only their own calls: no agent to choose.
    agents = await users.list_users(db) if Viewer.of(user).sees_everyone else []
    return {
        "agents": agents,
        "lists": await contacts.list_names(db),
        "outcomes": [o.value for o in Outcome],
        "dispositions": await disposition_catalog.list_dispositions(db),
        "queue_choices": await queue_choice.choices(db, include_archived=True),
        "contact": contact,
    }


@login_required
async def history_page(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    reading = await _read_filter(request)
    errors = _errors(reading)
    typed = _typed(request)
    typed["company_name"] = await _company_name(request, reading.filter)
    kept = {k: v for k, v in typed.items() if v}
    page = None
    if not errors:
        await _link_calls(request)
        page = await call_history.fetch_page(request.app[DB], reading.filter,
                                             Viewer.of(user),
                                             page=page_number(request.query.get("page", "")))

    def page_url(number: int) -> str:
        return "/history?" + urlencode({**kept, "page": str(number)})

    others = {k: v for k, v in kept.items() if k != "contact"}

    return render("history.html", request, {
        **await _form_options(request, user, reading.filter),
        "filters": typed,
        "filtered": bool(kept),
        "errors": errors,
        "calls": page.calls if page else [],
        "page": page.page if page else 1,
        "prev_url": page_url(page.page - 1) if page and page.page > 1 else None,
        "next_url": page_url(page.page + 1) if page and page.has_next else None,
        "export_url": "/history/export.csv" + ("?" + urlencode(kept) if kept else ""),
        "sees_everyone": Viewer.of(user).sees_everyone,
        "without_contact_url": "/history" + ("?" + urlencode(others) if others else ""),
    }, status=INVALID if errors else 200)


@login_required
async def recent_page(request: web.Request) -> web.StreamResponse:
    """The user's own last calls, each with a button to call back."""
    user = require_user(request)
    await _link_calls(request)
    own = HistoryFilter(agent_id=user.id)
    page = await call_history.fetch_page(request.app[DB], own, Viewer.of(user),
                                         per_page=call_history.RECENT)
    return render("history_recent.html", request, {
        "calls": page.calls, "count": call_history.RECENT,
    })


@login_required
async def contact_calls(request: web.Request) -> web.StreamResponse:
    """The last calls with one contact, as a piece of HTML for the contact page
    (web/static/history-contact.js puts it there; the page links to the full list)."""
    user = require_user(request)
    contact_id = int(request.match_info["contact_id"])  # the route allows 1-18 digits
    await _link_calls(request)
    page = await call_history.fetch_page(request.app[DB], HistoryFilter(contact_id=contact_id),
                                         Viewer.of(user), per_page=CONTACT_CALLS)
    return render("history_contact_calls.html", request, {
        "calls": page.calls, "more": page.has_next,
        "agent_column": Viewer.of(user).sees_everyone,
    })


def _csv_rows(calls: list[HistoryCall], lang: str, zone: tzinfo) -> list[list[object]]:
    """The export's cells: a header in the reader's language, then one row per call.

    Times are ``YYYY-MM-DD HH:MM:SS`` in the deployment's zone and durations whole
    seconds, which every spreadsheet reads as values whatever its locale.
    """
    def t(key: str) -> str:
        return i18n.translate(lang, key)

    rows: list[list[object]] = [[
        t("history.col.started"), t("history.col.direction"), t("history.col.agent"),
        t("history.col.number"), t("history.col.caller_name"), t("history.col.contact"),
        t("history.col.outcome"), t("history.col.disposition"), t("history.col.talk_seconds"),
    ]]
    for call in calls:
        outcome = (t(f"call.outcome.{call.outcome.value}") if call.outcome
                   else t("history.in_progress"))
        seconds = call.talk_seconds
        rows.append([
            call.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            t(f"history.direction.{call.direction}"),
            call.agent_name,
            call.dial_target,
            call.remote_name,
            call.contact_name or "",
            outcome,
            call.disposition_name or "",
            "" if seconds is None else round(seconds),
        ])
    return rows


@login_required
async def export_csv(request: web.Request) -> web.StreamResponse:
    """The history under the current filter as a CSV file for a spreadsheet: UTF-8 with
    a BOM, the reader's list separator, and every cell neutralised against formulas by
    the same rule as the contacts export (crm/contact_export.py)."""
    user = require_user(request)
    reading = await _read_filter(request)
    if reading.errors:
        return await history_page(request)
    await _link_calls(request)
    calls = await call_history.fetch_all(request.app[DB], reading.filter, Viewer.of(user))
    lang = current_lang(request)
    cells = [[contact_export.neutralise(str(cell)) for cell in row]
             for row in _csv_rows(calls, lang, _zone())]
    body = contact_export.BOM + contact_export.csv_lines(cells, formatting.csv_delimiter(lang))
    name = clock.utc_now().astimezone(_zone()).strftime("calls-%Y%m%d-%H%M.csv")
    return web.Response(
        body=body.encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

