"""Contact export: ``/contacts/export`` with the list's filters, as a CSV download.

Only administrators and supervisors export. A call centre's contact list is its most
valuable data, and an agent's job needs one contact at a time on screen, never the whole
file: keeping bulk export to the roles that manage the list narrows who can walk out with
it. The file is streamed (crm/contact_export.py), UTF-8 with a BOM, formulas
neutralised; its delimiter follows the user's language (``;`` for es, pt-BR and pl, where
Excel splits on ``;``; ``,`` for en), or ``?delimiter=comma|semicolon|tab``.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from crm import contact_export
from crm.contact_export import ExportTitles
from crm.users import Role
from web import formatting
from web.appkeys import DB
from web.auth import current_lang, role_required
from web.forms import FormErrors
from web.i18n import translate
from web.views.contacts import company_and_disposition, numbering, read_filter

EXPORT_ROLES = (Role.ADMIN, Role.SUPERVISOR)
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t"}


def delimiter_for(lang: str, choice: str = "") -> str:
    """The delimiter asked for, or the one Excel expects in ``lang``'s locales."""
    return DELIMITERS.get(choice) or formatting.csv_delimiter(lang)


def titles(lang: str) -> ExportTitles:
    def t(key: str) -> str:
        return translate(lang, f"contacts.export.{key}")

    return ExportTitles(
        name=t("name"), kind=t("kind"), company=t("company"), email=t("email"),
        phones=(t("mobile"), t("work"), t("home"), t("other")), tags=t("tags"),
        lists=t("lists"), person=t("person"), company_kind=t("company_kind"))


def _download_headers(filename: str) -> dict[str, str]:
    return {"Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"'}


async def csv_download(request: web.Request, rows: Iterable[list[str]],
                       filename: str) -> web.Response:
    """A small CSV file (made in memory) to download, cells neutralised, with a BOM."""
    lang = current_lang(request)
    safe = [[contact_export.neutralise(cell) for cell in row] for row in rows]
    body = contact_export.BOM + contact_export.csv_lines(
        safe, delimiter_for(lang, request.query.get("delimiter", "")))
    return web.Response(body=body.encode("utf-8"), headers=_download_headers(filename))


@role_required(*EXPORT_ROLES)
async def export_contacts(request: web.Request) -> web.StreamResponse:
    """The contacts the list would show with these filters, every page of them."""
    region, area_code = numbering(request)
    lang = current_lang(request)
    errors = FormErrors()
    where = await company_and_disposition(request.app[DB], read_filter(request.query, errors),
                                          request.query.get("company_name", ""), errors)
    if errors:
        first = next(iter(errors.values()))
        # Said as it is (not the generic error page): the link came from the list's
        # filters, and this says which one to change.
        return web.Response(status=400, text=translate(lang, first.key, **first.params),
                            headers={"Cache-Control": "no-store"})
    response = web.StreamResponse(headers=_download_headers("contacts.csv"))
    await response.prepare(request)
    async for chunk in contact_export.export_lines(
        request.app[DB], where, titles(lang),
        delimiter=delimiter_for(lang, request.query.get("delimiter", "")),
        region=region, area_code=area_code,
    ):
        await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response
