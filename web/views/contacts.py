"""Contact pages: the list with search and filters, creating, viewing/editing, deleting.

Any logged-in user reads, creates and edits contacts; only administrators and supervisors
delete them. Forms follow post/redirect/get; an invalid form re-renders with its errors
and the values typed, and changes nothing. Phone numbers are read with the deployment's
region and area code (``Settings.region``/``area_code``) and shown in national format
there, each a ``tel:`` link carrying its E.164 in ``data-dial`` for the softphone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from crm import contact_search, contacts, phone_numbers, users
from crm.contact_search import ContactFilter
from crm.contacts import Contact, ContactDraft, ContactKind, ContactPhone, ContactRef
from crm.db import Database
from crm.errors import CrmError, InvalidValue
from crm.users import Role
from web.appkeys import DB, DEPLOYMENT
from web.auth import login_required, require_user, role_required
from web.forms import FormErrors, text
from web.templating import render
from web.views.login import see_other

INVALID = 400
DELETE_ROLES = (Role.ADMIN, Role.SUPERVISOR)
BULK_ROLES = (Role.ADMIN, Role.SUPERVISOR)
# Rows a form may post; more than MAX_PHONES so the "too many" message can be shown.
MAX_PHONE_ROWS = contacts.MAX_PHONES + 5
MAX_PAGE = 100_000
MAX_COMPANY_CHOICES = 300
NOTICES = {
    "created": "contacts.notice.created",
    "saved": "contacts.notice.saved",
    "phone_added": "contacts.notice.phone_added",
    "deleted": "contacts.notice.deleted",
}
# Which form field an error from crm.contacts belongs to.
_FIELD_OF_KEY = {
    "contact.invalid_kind": "kind",
    "contact.company_of_company": "company_id",
    "contact.company_not_found": "company_id",
    "contact.company_has_people": "kind",
    "contact.owner_not_found": "owner_id",
    "contact.too_many_phones": "phones",
}


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


def _int(value: str, limit: int = 10**18) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and int(value) < limit else None


async def target_contact(request: web.Request) -> Contact:
    """The contact named in the URL, or 404."""
    contact_id = _int(request.match_info["contact_id"])
    contact = None if contact_id is None else await contacts.get_contact(
        request.app[DB], contact_id)
    if contact is None:
        raise web.HTTPNotFound()
    return contact


def _contact_url(contact_id: int, done: str | None = None) -> str:
    return f"/contacts/{contact_id}" + (f"?done={done}" if done else "")


def filter_of(query: Mapping[str, str]) -> ContactFilter:
    """The list's filters from its URL (the export takes the same)."""
    return ContactFilter(
        query=query.get("q", "")[: contact_search.MAX_QUERY],
        company_id=_int(query.get("company", "")),
        tag=query.get("tag", "")[: contacts.MAX_TAG],
        list=query.get("list", "")[: contacts.MAX_LIST],
        owner_id=_int(query.get("owner", "")),
    )


@login_required
async def contact_list(request: web.Request) -> web.StreamResponse:
    db = request.app[DB]
    region, area_code = _plan(request)
    query = request.query
    where = filter_of(query)
    page_number = _int(query.get("page", ""), MAX_PAGE) or 1
    page = await contact_search.list_contacts(db, where, page=page_number, region=region,
                                        area_code=area_code)
    # "Add this number to an existing contact": the caller-ID screen links here.
    add_number = _e164_or_none(query.get("add_number", ""), region, area_code)
    filters = {"q": where.query, "company": query.get("company", ""), "tag": where.tag,
               "list": where.list, "owner": query.get("owner", "")}
    kept = {k: v for k, v in filters.items() if v}
    if add_number:
        kept["add_number"] = add_number

    def page_url(number: int) -> str:
        return "/contacts?" + urlencode({**kept, "page": str(number)})

    return render("contacts.html", request, {
        "rows": [(c, phone_views(request, c)) for c in page.contacts],
        "filters": filters,
        "filtered": bool(kept.keys() - {"add_number"}),
        "companies": await _company_choices(db, where.company_id),
        "tags": await contacts.tag_names(db),
        "lists": await contacts.list_names(db),
        "owners": [u for u in await users.list_users(db) if u.active],
        "page": page.page,
        "prev_url": page_url(page.page - 1) if page.page > 1 else None,
        "next_url": page_url(page.page + 1) if page.has_next else None,
        "add_number": add_number,
        "add_number_shown": phone_numbers.display(add_number, region) if add_number else "",
        "notice": NOTICES.get(query.get("done", "")),
        # Import and export are for the roles that manage the list (views/contact_*.py).
        "can_bulk": require_user(request).role in BULK_ROLES,
        "export_url": "/contacts/export?" + urlencode(
            {k: v for k, v in kept.items() if k != "add_number"}),
    })


async def _company_choices(db: Database, selected: int | None) -> list[ContactRef]:
    """The company filter's choices: the first ``MAX_COMPANY_CHOICES`` by name, and the
    one filtered by (a page must not carry every company of a million contacts)."""
    companies = await contacts.list_companies(db, MAX_COMPANY_CHOICES)
    if selected is not None and all(c.id != selected for c in companies):
        chosen = await contacts.get_contact(db, selected)
        if chosen is not None and chosen.is_company:
            companies.append(ContactRef(chosen.id, chosen.name, None))
    return companies


def _e164_or_none(raw: str, region: str, area_code: str) -> str | None:
    if not raw:
        return None
    try:
        number = phone_numbers.parse(raw, region, area_code)
    except InvalidValue:
        return None
    return None if number.is_extension else number.value


def _blank_values() -> dict[str, Any]:
    return {"kind": ContactKind.PERSON.value, "name": "", "company_id": "", "email": "",
            "owner_id": "", "tags": "", "lists": "", "fields": "", "phones": []}


def _values_of(contact: Contact, request: web.Request) -> dict[str, Any]:
    return {
        "kind": contact.kind.value, "name": contact.name,
        "company_id": str(contact.company_id or ""), "email": contact.email,
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
    companies = [c for c in await contacts.list_companies(db)
                 if contact is None or c.id != contact.id]
    phones = values["phones"]
    return render(template, request, {
        "contact": contact,
        "shown_phones": phone_views(request, contact) if contact else [],
        "values": {**values, "phones": _with_blank_row(phones) if extra_row else phones},
        "errors": errors,
        "kinds": [k.value for k in ContactKind],
        "labels": [label.value for label in contacts.PhoneLabel],
        "companies": companies,
        "owners": [u for u in await users.list_users(db) if u.active],
        "can_delete": can_delete(request),
        "notice": NOTICES.get(request.query.get("done", "")) if status == 200 else None,
        "region": _plan(request)[0],
    }, status=status)


def _read_form(form: MultiDictProxy[str | Any]) -> dict[str, Any]:
    """The typed values; phone rows left empty or ticked "remove" are dropped."""
    values: dict[str, Any] = {name: text(form, name).strip() for name in
              ("kind", "name", "company_id", "email", "owner_id", "tags", "lists")}
    values["fields"] = text(form, "fields")
    values["phones"] = [
        {"label": text(form, f"phone_label_{i}"), "number": text(form, f"phone_number_{i}")}
        for i in range(MAX_PHONE_ROWS)
        if text(form, f"phone_number_{i}").strip() and form.get(f"phone_remove_{i}") != "1"
    ]
    return values


def _clean(values: dict[str, Any], region: str, area_code: str,
           errors: FormErrors) -> ContactDraft | None:
    """Check every field, recording errors; the draft when all are acceptable."""
    kind = errors.catch("kind", contacts.parse_kind, values["kind"])
    name = errors.catch("name", contacts.clean_name, values["name"])
    email = errors.catch("email", contacts.clean_email, values["email"])
    tags = errors.catch("tags", contacts.clean_tags, contacts.split_names(values["tags"]))
    lists = errors.catch("lists", contacts.clean_lists, contacts.split_names(values["lists"]))
    fields = errors.catch("fields", contacts.parse_fields, values["fields"])
    company_id = _int(values["company_id"]) if values["company_id"] else None
    if values["company_id"] and company_id is None:
        errors.add("company_id", "contact.company_not_found")
    if kind is ContactKind.COMPANY and company_id is not None:
        errors.add("company_id", "contact.company_of_company")
    owner_id = _int(values["owner_id"]) if values["owner_id"] else None
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
    draft = _clean(values, region, area_code, errors)
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
    draft = _clean(values, region, area_code, errors)
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
