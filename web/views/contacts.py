"""Contact pages: the list with search and filters, creating, viewing/editing, deleting.

Any logged-in user reads, creates and edits contacts; only administrators and supervisors
delete them. Forms follow post/redirect/get; an invalid form re-renders with its errors
and the values typed, and changes nothing. Phone numbers are read with the deployment's
region and area code (``Settings.region``/``area_code``) and shown in national format
there, each a ``tel:`` link carrying its E.164 in ``data-dial`` for the softphone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from crm import (
    call_history,
    call_records,
    clock,
    contact_activity,
    contact_search,
    contacts,
    disposition_catalog,
    ids,
    phone_numbers,
    users,
)
from crm.contact_search import ContactFilter, Cursor, ListOrder
from crm.contacts import Contact, ContactDraft, ContactKind, ContactPhone
from crm.db import Database
from crm.errors import CrmError, InvalidValue
from crm.users import Role
from web import formatting
from web.appkeys import DB, DEPLOYMENT
from web.auth import current_lang, login_required, require_user, role_required
from web.forms import FormErrors, text
from web.i18n import translate
from web.templating import render
from web.views.login import see_other

INVALID = 400
DELETE_ROLES = (Role.ADMIN, Role.SUPERVISOR)
BULK_ROLES = (Role.ADMIN, Role.SUPERVISOR)
# Rows a form may post; more than MAX_PHONES so the "too many" message can be shown.
MAX_PHONE_ROWS = contacts.MAX_PHONES + 5
# Companies the company field's autocomplete offers per answer.
COMPANY_SUGGESTIONS = 10
NOTICES = {
    "created": "contacts.notice.created",
    "saved": "contacts.notice.saved",
    "phone_added": "contacts.notice.phone_added",
    "deleted": "contacts.notice.deleted",
}
# Which form field an error from crm.contacts belongs to.
_FIELD_OF_KEY = {
    "contact.invalid_kind": "kind",
    "contact.company_of_company": "company_name",
    "contact.company_not_found": "company_name",
    "contact.company_has_people": "kind",
    "contact.owner_not_found": "owner_id",
    "contact.too_many_phones": "phones",
}
# The list's filter fields, in the form's order, as the URL names them.
FILTER_FIELDS = ("q", "company_name", "company", "tag", "list", "owner", "activity",
                 "active_from", "active_to", "disposition")


@dataclass(frozen=True)
class PhoneView:
    label: str
    e164: str
    shown: str


def numbering(request: web.Request) -> tuple[str, str]:
    """The deployment's region and area code, which read typed numbers."""
    return _plan(request)


def _plan(request: web.Request) -> tuple[str, str]:
    settings = request.app[DEPLOYMENT].current
    return settings.region, settings.area_code


def phone_views(request: web.Request, contact: Contact) -> list[PhoneView]:
    region, _ = _plan(request)
    return [PhoneView(p.label.value, p.e164, phone_numbers.display(p.e164, region))
            for p in contact.phones]


def can_delete(request: web.Request) -> bool:
    return require_user(request).role in DELETE_ROLES



async def target_contact(request: web.Request) -> Contact:
    """The contact named in the URL, or 404."""
    contact_id = ids.row_id(request.match_info["contact_id"])
    contact = None if contact_id is None else await contacts.get_contact(
        request.app[DB], contact_id)
    if contact is None:
        raise web.HTTPNotFound()
    return contact


def _contact_url(contact_id: int, done: str | None = None) -> str:
    return f"/contacts/{contact_id}" + (f"?done={done}" if done else "")


def _id_field(query: Mapping[str, str], name: str, errors: FormErrors,
              field: str = "") -> int | None:
    """An id picked from a list (``field``: the input the error belongs to)."""
    raw = query.get(name, "").strip()
    if not raw:
        return None
    value = ids.row_id(raw)
    if value is None:
        errors.add(field or name, "contacts.error.bad_choice")
    return value


def _activity(query: Mapping[str, str], errors: FormErrors
              ) -> contact_activity.ActivitySpan | None:
    """The "last call" filter, its error put on the field at fault."""
    start, end = query.get("active_from", ""), query.get("active_to", "")
    try:
        return contact_activity.read_activity(query.get("activity", ""), start, end,
                                              clock.utc_now(), formatting.deployment_zone())
    except InvalidValue as exc:
        field = "activity"
        if exc.key == "history.error.range":
            field = "active_to"
        elif exc.key == "history.error.bad_date":
            field = "active_from" if start.strip() and exc.params.get("value") == \
                start.strip()[:call_history.MAX_DATE_INPUT] else "active_to"
        errors.add(field, exc.key, **exc.params)
        return None


def read_filter(query: Mapping[str, str], errors: FormErrors) -> ContactFilter:
    """The list's filters from its URL (the export takes the same); a value that cannot
    be read is an error on its field and filters nothing. The company is its id (the
    autocomplete's pick); ``company_and_disposition`` checks both exist."""
    return ContactFilter(
        query=query.get("q", "")[: contact_search.MAX_QUERY],
        company_id=_id_field(query, "company", errors, "company_name") if query.get(
            "company_name", query.get("company", "")).strip() else None,
        tag=query.get("tag", "")[: contacts.MAX_TAG],
        list=query.get("list", "")[: contacts.MAX_LIST],
        owner_id=_id_field(query, "owner", errors),
        activity=_activity(query, errors),
        disposition_id=_id_field(query, "disposition", errors),
    )


async def company_and_disposition(db: Database, where: ContactFilter, typed_company: str,
                                  errors: FormErrors) -> ContactFilter:
    """``where`` with its company found by the name typed when no pick came with it
    (a page without script), and an error for a company or disposition that does not
    exist."""
    if where.company_id is None and typed_company.strip() and "company_name" not in errors:
        found = await contacts.company_named(db, typed_company[: contacts.MAX_NAME])
        if found is None:
            errors.add("company_name", "contacts.error.unknown_company",
                       company=typed_company.strip()[:60])
        else:
            where = replace(where, company_id=found.id)
    elif where.company_id is not None:
        chosen = await contacts.get_contact(db, where.company_id)
        if chosen is None or not chosen.is_company:
            errors.add("company_name", "contacts.error.unknown_company",
                       company=typed_company.strip()[:60])
            where = replace(where, company_id=None)
    if where.disposition_id is not None and where.disposition_id not in {
            d.id for d in await disposition_catalog.list_dispositions(db)}:
        errors.add("disposition", "contacts.error.unknown_disposition")
        where = replace(where, disposition_id=None)
    return where


def _order(query: Mapping[str, str]) -> ListOrder | None:
    """The order the pager's links keep, so every page of a list reads the same order
    (junk or none: the list chooses, crm.contact_search.choose_order)."""
    try:
        return ListOrder(query.get("order", ""))
    except ValueError:
        return None


def _cursor(query: Mapping[str, str]) -> Cursor | None:
    """The page's cursor from the pager's links (junk: the first page)."""
    for name, before in (("after", False), ("before", True)):
        value = ids.row_id(query.get(name, ""))
        if value is not None:
            return Cursor(value, before)
    return None


@login_required
async def contact_list(request: web.Request) -> web.StreamResponse:
    db = request.app[DB]
    region, area_code = _plan(request)
    query = request.query
    errors = FormErrors()
    where = await company_and_disposition(db, read_filter(query, errors),
                                          query.get("company_name", ""), errors)
    if where.activity is not None or where.disposition_id is not None:
        # Calls the gateway recorded since the last look count too (as on /history):
        # linking a call to its contact refreshes the contact's last call and disposition.
        await call_records.link_pending(db, region, area_code)
    page = None
    if not errors:
        page = await contact_search.list_contacts(db, where, cursor=_cursor(query),
                                                  order=_order(query),
                                                  region=region, area_code=area_code)
    # "Add this number to an existing contact": the caller-ID screen links here.
    add_number = _e164_or_none(query.get("add_number", ""), region, area_code)
    filters = {name: query.get(name, "")[:200] for name in FILTER_FIELDS}
    if where.company_id is not None and not errors:
        company = await contacts.get_contact(db, where.company_id)
        filters["company"] = str(where.company_id)
        filters["company_name"] = company.name if company else filters["company_name"]
    kept = {k: v for k, v in filters.items() if v}
    if add_number:
        kept["add_number"] = add_number

    def page_url(**cursor: int | None) -> str:
        extra = {k: str(v) for k, v in cursor.items() if v is not None}
        if extra and page:
            extra["order"] = page.order.value
        return "/contacts" + ("?" + urlencode({**kept, **extra}) if kept or extra else "")

    return render("contacts.html", request, {
        "rows": [(c, phone_views(request, c)) for c in page.contacts] if page else [],
        "filters": filters,
        "errors": errors,
        "filtered": bool(kept.keys() - {"add_number"}),
        "newest_first": page is not None and page.newest_first,
        "narrow": contact_search.NARROW,
        "stopped": page is not None and page.stopped,
        "walked": contact_search.WALK_ROWS,
        "tags": await contacts.tag_names(db),
        "lists": await contacts.list_names(db),
        "owners": [u for u in await users.list_users(db) if u.active],
        "recencies": [r.value for r in contact_activity.Recency],
        "dispositions": await disposition_catalog.list_dispositions(db),
        "first_url": page_url() if _cursor(query) else None,
        "prev_url": page_url(before=page.prev_before) if page and page.has_prev else None,
        "next_url": page_url(after=page.next_after) if page and page.has_next else None,
        "paged": bool(_cursor(query)),
        "add_number": add_number,
        "add_number_shown": phone_numbers.display(add_number, region) if add_number else "",
        "notice": NOTICES.get(query.get("done", "")),
        # Import and export are for the roles that manage the list (views/contact_*.py).
        "can_bulk": require_user(request).role in BULK_ROLES,
        "export_url": "/contacts/export?" + urlencode(
            {k: v for k, v in kept.items() if k != "add_number"}),
    }, status=INVALID if errors else 200)


@login_required
async def company_suggestions(request: web.Request) -> web.StreamResponse:
    """``GET /contacts/companies?q=...``: the companies whose name begins with what was
    typed, for the company field's autocomplete: ``{"companies": [{"id", "name"}],
    "more": bool}``. A range on an index, so as quick with a million contacts."""
    typed = request.query.get("q", "")
    if len(typed) > contacts.MAX_COMPANY_QUERY or contacts.has_control(typed):
        message = translate(current_lang(request), "contacts.error.bad_company_query",
                            max=contacts.MAX_COMPANY_QUERY)
        return web.json_response({"error": message}, status=INVALID,
                                 headers={"Cache-Control": "no-store"})
    found = await contacts.companies_starting(request.app[DB], typed,
                                              COMPANY_SUGGESTIONS + 1)
    return web.json_response({
        "companies": [{"id": c.id, "name": c.name} for c in found[:COMPANY_SUGGESTIONS]],
        "more": len(found) > COMPANY_SUGGESTIONS,
    }, headers={"Cache-Control": "no-store"})


def _e164_or_none(raw: str, region: str, area_code: str) -> str | None:
    if not raw:
        return None
    try:
        number = phone_numbers.parse(raw, region, area_code)
    except InvalidValue:
        return None
    return None if number.is_extension else number.value


def _blank_values() -> dict[str, Any]:
    return {"kind": ContactKind.PERSON.value, "name": "", "company_id": "",
            "company_name": "", "company_create": "", "email": "",
            "owner_id": "", "tags": "", "lists": "", "fields": "", "phones": []}


def _values_of(contact: Contact, request: web.Request) -> dict[str, Any]:
    return {
        "kind": contact.kind.value, "name": contact.name,
        "company_id": str(contact.company_id or ""),
        "company_name": contact.company_name or "", "company_create": "",
        "email": contact.email,
        "owner_id": str(contact.owner_id or ""), "tags": ", ".join(contact.tags),
        "lists": ", ".join(contact.lists), "fields": contacts.format_fields(contact.fields),
        "phones": [{"label": p.label, "number": p.shown} for p in phone_views(request, contact)],
    }


def _with_blank_row(phones: list[dict[str, str]]) -> list[dict[str, str]]:
    """The phone rows plus an empty one to add a number in."""
    if len(phones) >= contacts.MAX_PHONES:
        return phones
    return [*phones, {"label": "mobile", "number": ""}]


async def _form_page(request: web.Request, template: str, values: dict[str, Any],
                     errors: FormErrors, *, contact: Contact | None = None,
                     status: int = 200, extra_row: bool = True) -> web.Response:
    db = request.app[DB]
    phones = values["phones"]
    return render(template, request, {
        "contact": contact,
        "shown_phones": phone_views(request, contact) if contact else [],
        "values": {**values, "phones": _with_blank_row(phones) if extra_row else phones},
        "errors": errors,
        "kinds": [k.value for k in ContactKind],
        "labels": [label.value for label in contacts.PhoneLabel],
        "owners": [u for u in await users.list_users(db) if u.active],
        "can_delete": can_delete(request),
        "notice": NOTICES.get(request.query.get("done", "")) if status == 200 else None,
        "region": _plan(request)[0],
    }, status=status)


def _read_form(form: MultiDictProxy[str | Any]) -> dict[str, Any]:
    """The typed values; phone rows left empty or ticked "remove" are dropped."""
    values: dict[str, Any] = {name: text(form, name).strip() for name in
              ("kind", "name", "company_id", "company_name", "company_create", "email",
               "owner_id", "tags", "lists")}
    values["fields"] = text(form, "fields")
    values["phones"] = [
        {"label": text(form, f"phone_label_{i}"), "number": text(form, f"phone_number_{i}")}
        for i in range(MAX_PHONE_ROWS)
        if text(form, f"phone_number_{i}").strip() and form.get(f"phone_remove_{i}") != "1"
    ]
    return values


async def _company(db: Database, values: dict[str, Any],
                   errors: FormErrors) -> tuple[int | None, str]:
    """The company the form names: (its id, "") when it exists, (None, name) when the
    user chose to create it, (None, "") for none or after recording an error.

    The autocomplete sends the id of the company picked; without script, or when the
    name was typed over, the name alone finds it (ignoring case and accents)."""
    name = values["company_name"]
    if not name:
        return None, ""
    chosen = ids.row_id(values["company_id"]) if values["company_id"] else None
    if chosen is not None:
        company = await contacts.get_contact(db, chosen)
        if company is not None and company.is_company and contacts.fold(
                company.name) == contacts.fold(name):
            return chosen, ""
    found = await contacts.company_named(db, name[: contacts.MAX_NAME])
    if found is not None:
        return found.id, ""
    if values["company_create"] != "1":
        errors.add("company_name", "contacts.error.company_to_create", company=name[:60])
        return None, ""
    clean = errors.catch("company_name", contacts.clean_name, name)
    return None, clean or ""


async def _with_company(request: web.Request, draft: ContactDraft | None, new_company: str,
                        errors: FormErrors) -> ContactDraft | None:
    """The draft linked to a company created now, only once the rest of the form is
    acceptable (an invalid form changes nothing)."""
    if draft is None or not new_company:
        return draft
    if draft.kind is ContactKind.COMPANY:
        errors.add("company_name", "contact.company_of_company")
        return None
    company = await contacts.create_contact(request.app[DB], ContactDraft(
        kind=ContactKind.COMPANY, name=new_company, owner_id=require_user(request).id))
    return replace(draft, company_id=company.id)


def _clean(values: dict[str, Any], region: str, area_code: str,
           errors: FormErrors, company_id: int | None = None) -> ContactDraft | None:
    """Check every field, recording errors; the draft when all are acceptable."""
    kind = errors.catch("kind", contacts.parse_kind, values["kind"])
    name = errors.catch("name", contacts.clean_name, values["name"])
    email = errors.catch("email", contacts.clean_email, values["email"])
    tags = errors.catch("tags", contacts.clean_tags, contacts.split_names(values["tags"]))
    lists = errors.catch("lists", contacts.clean_lists, contacts.split_names(values["lists"]))
    fields = errors.catch("fields", contacts.parse_fields, values["fields"])
    if kind is ContactKind.COMPANY and company_id is not None:
        errors.add("company_name", "contact.company_of_company")
    owner_id = ids.row_id(values["owner_id"]) if values["owner_id"] else None
    if values["owner_id"] and owner_id is None:
        errors.add("owner_id", "contact.owner_not_found")
    phones: list[ContactPhone] = []
    for i, row in enumerate(values["phones"]):
        phone = errors.catch(f"phone_number_{i}", contacts.clean_phone, row["label"],
                             row["number"], region, area_code)
        if phone is not None:
            phones.append(phone)
    cleaned_phones = errors.catch("phones", contacts.clean_phones, phones)
    if (errors or kind is None or name is None or email is None or tags is None
            or lists is None or fields is None or cleaned_phones is None):
        return None
    return ContactDraft(kind=kind, name=name, company_id=company_id, email=email,
                        owner_id=owner_id, fields=fields, tags=tags, lists=lists,
                        phones=cleaned_phones)


def _add_crm_error(errors: FormErrors, exc: CrmError) -> None:
    errors.add(_FIELD_OF_KEY.get(exc.key, "name"), exc.key, **exc.params)


@login_required
async def new_form(request: web.Request) -> web.StreamResponse:
    values = _blank_values()
    values["owner_id"] = str(require_user(request).id)
    region, area_code = _plan(request)
    number = _e164_or_none(request.query.get("number", ""), region, area_code)
    if number:
        values["phones"] = [{"label": "mobile", "number": phone_numbers.display(number,
                                                                                region)}]
    return await _form_page(request, "contact_new.html", values, FormErrors())


@login_required
async def new_submit(request: web.Request) -> web.StreamResponse:
    region, area_code = _plan(request)
    form = await request.post()
    values = _read_form(form)
    if form.get("action") == "more_phones":
        return await _form_page(request, "contact_new.html", values, FormErrors())
    errors = FormErrors()
    company_id, new_company = await _company(request.app[DB], values, errors)
    draft = await _with_company(request, _clean(values, region, area_code, errors,
                                                company_id), new_company, errors)
    if draft is not None:
        try:
            contact = await contacts.create_contact(request.app[DB], draft)
        except CrmError as exc:  # the company or owner went away meanwhile
            _add_crm_error(errors, exc)
        else:
            return see_other(_contact_url(contact.id, "created"))
    return await _form_page(request, "contact_new.html", values, errors, status=INVALID,
                            extra_row=False)


@login_required
async def contact_page(request: web.Request) -> web.StreamResponse:
    contact = await target_contact(request)
    return await _form_page(request, "contact_edit.html", _values_of(contact, request),
                            FormErrors(), contact=contact)


@login_required
async def edit_submit(request: web.Request) -> web.StreamResponse:
    contact = await target_contact(request)
    region, area_code = _plan(request)
    form = await request.post()
    values = _read_form(form)
    if form.get("action") == "more_phones":
        return await _form_page(request, "contact_edit.html", values, FormErrors(),
                                contact=contact)
    errors = FormErrors()
    company_id, new_company = await _company(request.app[DB], values, errors)
    draft = await _with_company(request, _clean(values, region, area_code, errors,
                                                company_id), new_company, errors)
    if draft is not None:
        try:
            await contacts.update_contact(request.app[DB], contact.id, draft)
        except CrmError as exc:
            _add_crm_error(errors, exc)
        else:
            return see_other(_contact_url(contact.id, "saved"))
    return await _form_page(request, "contact_edit.html", values, errors, contact=contact,
                            status=INVALID, extra_row=False)


@login_required
async def add_phone_submit(request: web.Request) -> web.StreamResponse:
    """Add one number to this contact (from the list's "add to an existing contact")."""
    contact = await target_contact(request)
    region, area_code = _plan(request)
    form = await request.post()
    errors = FormErrors()
    phone = errors.catch("number", contacts.clean_phone, text(form, "label") or "other",
                         text(form, "number"), region, area_code)
    if phone is not None:
        try:
            await contacts.add_phone(request.app[DB], contact.id, phone)
        except CrmError as exc:
            errors.add("number", exc.key, **exc.params)
    if errors:
        values = {**_values_of(contact, request), "add_phone": text(form, "number")}
        return await _form_page(request, "contact_edit.html", values, errors,
                                contact=contact, status=INVALID)
    return see_other(_contact_url(contact.id, "phone_added"))


@role_required(*DELETE_ROLES)
async def delete_form(request: web.Request) -> web.StreamResponse:
    contact = await target_contact(request)
    return render("contact_delete.html", request, {
        "contact": contact, "phone_count": len(contact.phones),
    })


@role_required(*DELETE_ROLES)
async def delete_submit(request: web.Request) -> web.StreamResponse:
    contact = await target_contact(request)
    await contacts.delete_contact(request.app[DB], contact.id)
    return see_other("/contacts?done=deleted")
