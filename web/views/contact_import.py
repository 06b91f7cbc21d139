"""Contact import pages: upload a CSV file, map its columns, watch it run, read the result.

Administrators and supervisors import (a bulk change to everyone's contact list); agents
add contacts one at a time. Each upload becomes an ``ImportJob`` kept in memory, private
to the user who uploaded it, that moves through three steps shown on one page,
``/contacts/import/{job}``: mapping (columns guessed, changeable), running (a progress
bar the page polls at ``.../progress``, JSON) and done (counts, row errors and
duplicates, also as a CSV file). What to do with a row whose number or email a contact
already has is chosen with the mapping (skip by default). The import runs as an
asyncio task the application owns: it is cancelled when the application stops
(``cancel_imports``), and a closed tab does not stop it.

Uploads are read as a stream with their own size cap (crm.contact_import.MAX_BYTES),
because a 100,000-row file is bigger than the server's 1 MB form limit. For that the
page's script sends the CSRF token in the ``X-CSRF-Token`` header, so the CSRF check
does not read the body; a form posted without the script (small files) still works.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from crm import contact_import, ids, users
from crm.contact_import import CsvTable, ImportOptions, ImportProgress, OnDuplicate, Target
from crm.errors import CrmError, InvalidValue
from crm.users import Role
from web import csrf
from web.appkeys import DB
from web.auth import current_lang, require_user, role_required
from web.i18n import translate
from web.templating import render
from web.views.contact_export import csv_download
from web.views.contacts import numbering
from web.views.login import see_other

log = logging.getLogger(__name__)

IMPORT_ROLES = (Role.ADMIN, Role.SUPERVISOR)
# Jobs kept per application; the oldest finished ones go first.
MAX_JOBS = 20
JOB_TTL = 3600.0
# Row errors listed on the page; the CSV download has them all (as kept).
ERRORS_SHOWN = 100
PREVIEW_ROWS = 3


class Step(enum.StrEnum):
    MAPPING = "mapping"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ImportJob:
    id: str
    user_id: int
    filename: str
    table: CsvTable | None
    mapping: tuple[Target, ...]
    created: float = field(default_factory=time.monotonic)
    step: Step = Step.MAPPING
    progress: ImportProgress | None = None
    on_duplicate: OnDuplicate = OnDuplicate.SKIP
    failure: CrmError | None = None
    task: asyncio.Task[None] | None = None


@dataclass
class ImportJobs:
    """The application's imports, by id."""

    jobs: dict[str, ImportJob] = field(default_factory=dict)

    def add(self, job: ImportJob) -> None:
        now = time.monotonic()
        for old in [j for j in self.jobs.values()
                    if j.step is not Step.RUNNING and now - j.created > JOB_TTL]:
            del self.jobs[old.id]
        while len(self.jobs) >= MAX_JOBS:
            idle = [j for j in self.jobs.values() if j.step is not Step.RUNNING]
            if not idle:
                raise web.HTTPServiceUnavailable(text="too many imports running")
            del self.jobs[min(idle, key=lambda j: j.created).id]
        self.jobs[job.id] = job


IMPORT_JOBS = web.AppKey("contact_import_jobs", ImportJobs)


def setup_imports(app: web.Application) -> None:
    """Give the application its import registry, and stop running imports at cleanup."""
    app[IMPORT_JOBS] = ImportJobs()
    app.on_cleanup.append(cancel_imports)


def _jobs(app: web.Application) -> ImportJobs:
    return app[IMPORT_JOBS]


async def cancel_imports(app: web.Application) -> None:
    """on_cleanup: stop imports still running (each batch is its own transaction, so
    what was written stays and nothing is half-written)."""
    tasks = [j.task for j in app[IMPORT_JOBS].jobs.values() if j.task and not j.task.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _job(request: web.Request) -> ImportJob:
    """The job in the URL if it belongs to this user, else 404."""
    user = require_user(request, *IMPORT_ROLES)
    job = _jobs(request.app).jobs.get(request.match_info["job_id"])
    if job is None or job.user_id != user.id:
        raise web.HTTPNotFound()
    return job


def _targets() -> list[str]:
    return [t.value for t in Target]


async def _read_upload(request: web.Request) -> tuple[str, bytes]:
    """The uploaded file's name and bytes, read with ``MAX_BYTES`` as the limit."""
    limit = contact_import.MAX_BYTES
    if request.content_type != "multipart/form-data":
        raise InvalidValue("not a file upload", key="import.no_file")
    if request.headers.get(csrf.HEADER):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                data = bytearray()
                while chunk := await part.read_chunk(256 * 1024):
                    data.extend(chunk)
                    if len(data) > limit:
                        raise InvalidValue("file too big", key="import.too_big",
                                           max_mb=limit // (1024 * 1024))
                return part.filename or "", bytes(data)
        raise InvalidValue("no file", key="import.no_file")
    form = await request.post()  # the CSRF check read it already (a small form)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise InvalidValue("no file", key="import.no_file")
    return upload.filename, upload.file.read(limit + 1)


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _upload_context(error: str | None) -> dict[str, object]:
    return {"error": error, "max_rows": contact_import.MAX_ROWS,
            "max_mb": contact_import.MAX_BYTES // (1024 * 1024)}


@role_required(*IMPORT_ROLES)
async def upload_form(request: web.Request) -> web.StreamResponse:
    return render("contact_import.html", request, _upload_context(None))


@role_required(*IMPORT_ROLES)
async def upload_submit(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    try:
        filename, data = await _read_upload(request)
        # Parsing 100,000 rows takes a moment: not on the event loop.
        table = await asyncio.to_thread(contact_import.read_table, data)
    except InvalidValue as exc:
        message = translate(current_lang(request), exc.key, **exc.params)
        if _wants_json(request):
            return web.json_response({"error": message}, status=400)
        return render("contact_import.html", request, _upload_context(message), status=400)
    job = ImportJob(secrets.token_urlsafe(16), user.id, filename[:200], table,
                    contact_import.guess_mapping(table.headers))
    _jobs(request.app).add(job)
    target = f"/contacts/import/{job.id}"
    if _wants_json(request):
        return web.json_response({"next": target})
    return see_other(target)


async def _run(app: web.Application, job: ImportJob, options: ImportOptions) -> None:
    assert job.table is not None

    def report(progress: ImportProgress) -> None:
        job.progress = progress

    try:
        job.progress = await contact_import.run_import(app[DB], job.table, job.mapping,
                                                       options, report)
        job.step = Step.DONE
    except CrmError as exc:
        job.failure, job.step = exc, Step.FAILED
    except Exception:
        log.exception("contact import %s failed", job.id)
        job.failure, job.step = CrmError("import failed"), Step.FAILED
    finally:
        job.table = None  # the rows are stored (or not): free the memory


@role_required(*IMPORT_ROLES)
async def job_page(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    return await _render_job(request, job, None)


async def _render_job(request: web.Request, job: ImportJob, error: CrmError | None,
                      status: int = 200) -> web.Response:
    progress = job.progress or ImportProgress(total=len(job.table.rows) if job.table else 0)
    rows = job.table.rows[:PREVIEW_ROWS] if job.table else ()
    columns = []
    if job.table is not None:
        for i, title in enumerate(job.table.headers):
            columns.append({"index": i, "title": title, "target": job.mapping[i].value,
                            "samples": [r[i] for r in rows if i < len(r) and r[i].strip()]})
    return render("contact_import_job.html", request, {
        "job": job,
        "step": job.step.value,
        "columns": columns,
        "targets": _targets(),
        "owners": [u for u in await users.list_users(request.app[DB]) if u.active],
        "progress": progress,
        "errors_shown": progress.errors[:ERRORS_SHOWN],
        "duplicates_shown": progress.duplicates[:ERRORS_SHOWN],
        "duplicate_modes": [m.value for m in OnDuplicate],
        "on_duplicate": job.on_duplicate.value,
        "error": error,
        "failure": job.failure,
    }, status=status)


@role_required(*IMPORT_ROLES)
async def job_submit(request: web.Request) -> web.StreamResponse:
    """Start the import with the mapping chosen on the page."""
    job = _job(request)
    if job.step is not Step.MAPPING or job.table is None:
        return see_other(f"/contacts/import/{job.id}")
    form = await request.post()
    choices = {}
    for i in range(len(job.table.headers)):
        value = form.get(f"map_{i}")
        if isinstance(value, str):
            choices[i] = value
    try:
        mapping = [Target(choices.get(i, job.mapping[i].value))
                   for i in range(len(job.table.headers))]
        contact_import.check_mapping(job.table.headers, mapping)
        owner_raw = form.get("owner_id", "")
        owner_id = ids.row_id(owner_raw) if isinstance(owner_raw, str) else None
    except ValueError:
        return await _render_job(request, job, InvalidValue("bad target",
                                                            key="import.bad_mapping"), 400)
    except CrmError as exc:
        job.mapping = tuple(mapping)
        return await _render_job(request, job, exc, 400)
    job.mapping = tuple(mapping)
    mode = form.get("on_duplicate", OnDuplicate.SKIP.value)
    try:
        job.on_duplicate = contact_import.parse_on_duplicate(mode if isinstance(mode, str)
                                                             else "")
    except CrmError as exc:
        return await _render_job(request, job, exc, 400)
    region, area_code = numbering(request)
    options = ImportOptions(region=region, area_code=area_code, owner_id=owner_id,
                            on_duplicate=job.on_duplicate)
    job.step = Step.RUNNING
    job.progress = ImportProgress(total=len(job.table.rows))
    job.task = asyncio.get_running_loop().create_task(_run(request.app, job, options),
                                                      name=f"contact-import-{job.id}")
    return see_other(f"/contacts/import/{job.id}")


@role_required(*IMPORT_ROLES)
async def job_progress(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    progress = job.progress or ImportProgress(total=0)
    return web.json_response({
        "step": job.step.value, "percent": progress.percent, "done": progress.done,
        "total": progress.total, "imported": progress.imported, "failed": progress.failed,
        "skipped": progress.skipped, "updated": progress.updated,
        "created_anyway": progress.created_anyway,
    })


@role_required(*IMPORT_ROLES)
async def job_errors(request: web.Request) -> web.StreamResponse:
    """The row errors as a CSV file (row, column, message in the user's language)."""
    job = _job(request)
    lang = current_lang(request)
    # Row errors, then what was done with each duplicate.
    errors = [*job.progress.errors, *job.progress.duplicates] if job.progress else []
    rows = [[translate(lang, "contacts.import.errors.row"),
             translate(lang, "contacts.import.errors.column"),
             translate(lang, "contacts.import.errors.problem")]]
    rows.extend([str(e.row), e.column, translate(lang, e.key, **e.params)] for e in errors)
    return await csv_download(request, rows, "contact-import-errors.csv")

