"""``headset contacts import FILE``: the contact import from a terminal.

Same core as the page (crm/contact_import.py): columns guessed from their titles, changed
with ``--map "Column title=target"``, duplicates skipped, updated or created as
``--on-duplicate`` says (skip by default), a progress bar on standard error, the summary and
the first row errors on standard output. Exit status 0 when the import ran (even with
rows skipped), 1 when the file, the mapping or the owner cannot be used (nothing stored).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from crm import contact_import, deployment, users
from crm.contact_import import ImportOptions, ImportProgress, OnDuplicate, Target
from crm.db import open_database
from crm.errors import CrmError
from gateway.settings import Settings
from web.i18n import translate

BAR_WIDTH = 30
ERRORS_PRINTED = 20


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contacts = commands.add_parser("contacts", help="manage contacts").add_subparsers(
        dest="action", required=True)
    imp = contacts.add_parser("import", help="import contacts from a CSV file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--map", action="append", default=[], metavar="COLUMN=TARGET",
                     help="send a column to a target: " + ", ".join(t.value for t in Target))
    imp.add_argument("--owner", default="", help="username owning the imported contacts")
    imp.add_argument("--on-duplicate", default=OnDuplicate.SKIP.value,
                     choices=[m.value for m in OnDuplicate],
                     help="a row whose phone number or email a contact (or an earlier row)"
                          " already has: skip it (default), update that contact, or"
                          " create it anyway")


def progress_bar(progress: ImportProgress) -> str:
    """One line of the bar: ``[#####-----]  50 %  500/1000``."""
    filled = BAR_WIDTH * progress.percent // 100
    return (f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {progress.percent:3d} %"
            f"  {progress.done}/{progress.total}")


def _choices(pairs: list[str]) -> dict[str, str]:
    choices: dict[str, str] = {}
    for pair in pairs:
        title, equals, target = pair.rpartition("=")
        if not equals:
            raise CrmError(f"--map {pair!r}: write it as COLUMN=TARGET")
        choices[title] = target
    return choices


def _message(key: str, params: object) -> str:
    return translate("en", key, **params) if isinstance(params, dict) else key


async def run(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout,
              err: TextIO = sys.stderr) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"headset: cannot read {args.file}: {exc.strerror}", file=err)
        return 1
    try:
        table = contact_import.read_table(data)
        mapping = contact_import.parse_mapping(table.headers, _choices(args.map))
    except CrmError as exc:
        print(f"headset: {args.file}: {_message(exc.key, exc.params)}", file=err)
        return 1
    db = await open_database(settings.database_path)
    try:
        owner_id = None
        if args.owner:
            owner = await users.get_by_username(db, args.owner)
            if owner is None:
                print(f"headset: no user {args.owner!r}", file=err)
                return 1
            owner_id = owner.id

        def show(progress: ImportProgress) -> None:
            print("\r" + progress_bar(progress), end="", file=err, flush=True)

        # The numbering an admin saved on the settings page, as the web import uses.
        plan = await deployment.load(db, deployment.defaults_from(settings))
        options = ImportOptions(region=plan.region, area_code=plan.area_code,
                                owner_id=owner_id,
                                on_duplicate=contact_import.parse_on_duplicate(
                                    args.on_duplicate))
        result = await contact_import.run_import(db, table, mapping, options, show)
    finally:
        await db.close()
    print(file=err)
    print(f"{result.imported} contacts imported, {result.failed} rows skipped,"
          f" out of {result.total}.", file=out)
    for error in result.errors[:ERRORS_PRINTED]:
        column = f" ({error.column})" if error.column else ""
        print(f"  row {error.row}{column}: {_message(error.key, dict(error.params))}",
              file=out)
    if len(result.errors) > ERRORS_PRINTED:
        print(f"  ... and {len(result.errors) - ERRORS_PRINTED} more", file=out)
    duplicates = result.skipped + result.updated + result.created_anyway
    if duplicates:
        print(f"{duplicates} duplicates: {result.skipped} skipped, {result.updated} updated,"
              f" {result.created_anyway} created anyway.", file=out)
    for note in result.duplicates[:ERRORS_PRINTED]:
        print(f"  row {note.row}: {_message(note.key, dict(note.params))}", file=out)
    if len(result.duplicates) > ERRORS_PRINTED:
        print(f"  ... and {len(result.duplicates) - ERRORS_PRINTED} more", file=out)
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(run(settings, args))
