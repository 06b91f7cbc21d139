"""Contacts at scale: caller-ID lookups, the contact list's search through HTTP, imports.

    python -m bench.contacts [--contacts N] [--import-rows R] [--json out.json]
                             [--data-dir DIR]

1. Generates N contacts (default 1,000,000) straight into a fresh database with SQL:
   people and companies with Spanish, Portuguese and Polish names, one or two Spanish
   mobile numbers each, emails, tags and campaign lists, search keys built by the real
   ``crm.contacts.search_key`` (the trigram index fills through the real triggers).
2. Caller-ID: ``crm.callerid.match`` for numbers as a PBX presents them (national
   format, hits and misses), p50/p99. Baseline in the same run: ``SELECT 1`` through the
   same ``Database`` (the aiosqlite round trip every lookup pays).
3. The contact list through real HTTP: an aiohttp server on 127.0.0.1 with the real
   pages, a logged-in session, ``GET /contacts?...`` for representative searches (name
   prefix, a word, mid-word, a number typed in part and whole, a list filter, a list
   filter with a search, last call and disposition filters, a company, and combinations
   of them, dense and sparse, page 20 reached by following the pager's "next" links),
   p50/p95, with the order each page says it is in ("name" or "newest") and ", stopped"
   when its walk read its bound without filling the page (a sparse combination: the
   page offers "keep looking"), and the company autocomplete (``GET
   /contacts/companies?q=...``). Baseline: the unfiltered first page. The contacts' last
   call and disposition (which the server keeps from call records, crm/contact_activity.py)
   are written directly for one contact in five, spread over 120 days.
4. Import: R rows (default 20,000) through ``crm.contact_import`` into the same database,
   rows/s; baseline: the same rows only checked (``build_batch``), no writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from crm import callerid, clock, contact_import, users
from crm.contacts import fold, search_key
from crm.db import Database, database_ctx, open_database
from gateway.settings import Settings
from tests.support.gateway import FAST_HASHING
from web.appkeys import DB, SETTINGS
from web.setup import setup_web

Json = dict[str, Any]
FIRST = ("María", "José", "João", "Łukasz", "Zofia", "Ana", "Carlos", "Małgorzata", "Pedro",
         "Lucía", "Tomasz", "Beatriz", "Javier", "Agnieszka", "Rafael", "Fernanda", "Piotr",
         "Camila", "Andrés", "Katarzyna", "Gonçalo", "Iñaki", "Wojciech", "Marta")
LAST = ("García", "Fernández", "Silva", "Nowak", "Kowalski", "Wiśniewski", "Pereira",
        "Martínez", "Rodríguez", "Santos", "Wójcik", "Kamiński", "López", "Oliveira",
        "Sánchez", "Lewandowski", "Costa", "Gómez", "Zieliński", "Ribeiro", "Díaz",
        "Szymański", "Almeida", "Romero")
FIRMS = ("Transportes", "Logística", "Seguros", "Telecom", "Energía", "Consultoria",
         "Hurtownia", "Farmacia", "Construcciones", "Usługi")
TAGS = ("VIP", "Moroso", "Nuevo")
DISPOSITIONS = ("Venta", "No interesado", "Volver a llamar")
LISTS = 20
COMPANY_EVERY = 50
REGION = "ES"
PASSWORD = "bench password 1"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def mobile(i: int) -> str:
    """A distinct, valid Spanish mobile for contact ``i`` (6xx xxx xxx)."""
    return f"+346{(i * 7919) % 100_000_000:08d}"


def generate(path: Path, count: int, seed: int = 7) -> list[str]:
    """Write ``count`` contacts into the database at ``path``; return some stored numbers."""
    rnd = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    # A throw-away file: no journal while filling it, and the trigram index built once at
    # the end ('rebuild') rather than row by row through the triggers, which are put back
    # as the migration wrote them.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    triggers = [row[0] for row in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contacts'")]
    for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contacts'"
    ).fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    now = clock.to_db(clock.utc_now())
    sample: list[str] = []
    conn.execute("BEGIN")
    companies: list[tuple[int, str]] = []
    contact_rows: list[tuple[Any, ...]] = []
    phone_rows: list[tuple[Any, ...]] = []
    tag_rows: list[tuple[Any, ...]] = []
    list_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO contacts (id, kind, name, name_key, search_key, company_id, email,"
            " owner_id, fields, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '{}', ?, ?)", contact_rows)
        conn.executemany("INSERT INTO contact_phones (contact_id, label, e164, position)"
                         " VALUES (?, ?, ?, ?)", phone_rows)
        conn.executemany("INSERT INTO contact_tags (contact_id, tag, tag_key) VALUES (?, ?, ?)",
                         tag_rows)
        conn.executemany("INSERT INTO contact_lists (contact_id, list, list_key)"
                         " VALUES (?, ?, ?)", list_rows)
        for rows in (contact_rows, phone_rows, tag_rows, list_rows):
            rows.clear()

    for i in range(1, count + 1):
        phones = [mobile(i)] + ([mobile(i + count)] if i % 3 == 0 else [])
        if i % COMPANY_EVERY == 1:
            name = f"{rnd.choice(FIRMS)} {rnd.choice(LAST)} {i}"
            kind, company_id, company_name, email = "company", None, None, ""
            companies.append((i, name))
        else:
            name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)} {rnd.choice(LAST)}"
            kind = "person"
            company_id, company_name = (rnd.choice(companies) if companies and i % 2
                                        else (None, None))
            email = f"{fold(name).replace(' ', '.')}{i}@example.es" if i % 2 else ""
        key = search_key(name, email, company_name, phones)
        contact_rows.append((i, kind, name, fold(name), key, company_id, email, now, now))
        phone_rows.extend((i, "mobile", e164, pos) for pos, e164 in enumerate(phones))
        if i % 5 == 0:
            tag = TAGS[i % len(TAGS)]
            tag_rows.append((i, tag, fold(tag)))
        if i % 4 == 0:
            name_of_list = f"Campaña {i % LISTS}"
            list_rows.append((i, name_of_list, fold(name_of_list)))
        if i % max(1, count // 2000) == 0:
            sample.append(phones[0])
        if len(contact_rows) >= 20_000:
            flush()
    flush()
    conn.execute("INSERT INTO contact_fts (contact_fts) VALUES ('rebuild')")
    for sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return sample


def add_activity(path: Path) -> None:
    """Give one contact in five a last call (0-119 days ago) and one in ten a last
    disposition, as crm/contact_activity.py keeps them; once per database."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM contacts WHERE last_activity_at IS NOT NULL"
                        " LIMIT 1").fetchone():
            return
        conn.execute("BEGIN")
        now = clock.to_db(clock.utc_now())
        conn.execute("INSERT INTO disposition_categories (name, name_key, kind, created_at)"
                     " VALUES ('Bench', 'bench', 'success', ?)", (now,))
        category = conn.execute("SELECT MAX(id) FROM disposition_categories").fetchone()[0]
        for name in DISPOSITIONS:
            conn.execute("INSERT INTO dispositions (category_id, name, name_key, created_at)"
                         " VALUES (?, ?, ?, ?)", (category, name, fold(name), now))
        ids = [row[0] for row in conn.execute(
            f"SELECT id FROM dispositions WHERE name IN ({', '.join('?' * len(DISPOSITIONS))})"
            " ORDER BY id", DISPOSITIONS)]
        conn.execute(
            "UPDATE contacts SET last_activity_at = strftime('%Y-%m-%dT%H:%M:%S', 'now',"
            " '-' || (id * 7 % 120) || ' days') || '.000+00:00' WHERE id % 5 = 0")
        for i, disposition in enumerate(ids):
            conn.execute("UPDATE contacts SET last_disposition_id = ?,"
                         " last_disposition_at = last_activity_at"
                         " WHERE id % 10 = 0 AND id / 10 % ? = ?",
                         (disposition, len(ids), i))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def national(e164: str) -> str:
    """How a Spanish PBX presents the number: 9 digits, grouped."""
    digits = e164.removeprefix("+34")
    return f"{digits[:3]} {digits[3:5]} {digits[5:7]} {digits[7:]}"


async def timed(action: Callable[[], Awaitable[object]], times: int) -> list[float]:
    """Milliseconds per call of ``action``, after two warm-up calls."""
    for _ in range(2):
        await action()
    spent: list[float] = []
    for _ in range(times):
        start = time.perf_counter()
        await action()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


async def caller_id(db: Database, numbers: list[str], lookups: int, seed: int = 11) -> Json:
    rnd = random.Random(seed)
    hits = [national(n) for n in numbers]
    misses = [f"91{rnd.randrange(10**6, 10**7):07d}" for _ in range(200)]
    presented = [rnd.choice(hits) if i % 4 else rnd.choice(misses) for i in range(lookups)]
    found = 0
    spent: list[float] = []
    for raw in presented:
        start = time.perf_counter()
        result = await callerid.match(db, raw, REGION)
        spent.append((time.perf_counter() - start) * 1000)
        found += bool(result.matches)
    floor = await timed(lambda: db.fetchone("SELECT 1"), lookups)
    return {"lookups": lookups, "matched": found,
            "p50_ms": percentile(spent, 0.5), "p99_ms": percentile(spent, 0.99),
            "baseline_select1_p50_ms": percentile(floor, 0.5),
            "baseline_select1_p99_ms": percentile(floor, 0.99)}


NEXT = re.compile(r'href="([^"]+)" rel="next"')
ORDER = re.compile(r'data-list-order="([a-z]+)"')


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


async def http_search(settings: Settings, queries: dict[str, dict[str, str]],
                      requests: int) -> Json:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=FAST_HASHING)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    if await users.get_by_username(app[DB], "bench") is None:  # a reused database has it
        await users.create_user(app[DB], "bench", PASSWORD, role="supervisor",
                                hashing=FAST_HASHING)
    results: Json = {}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            page = await (await http.get(f"{base}/login")).text()
            async with http.post(f"{base}/login", data={
                "username": "bench", "password": PASSWORD, "csrf_token": _csrf(page),
                "next": "/contacts"}) as resp:
                assert resp.status == 200 and "/contacts/new" in await resp.text()
            for label, params in queries.items():
                pages = int(params.pop("pages", "1"))
                path = "/contacts"
                url = f"{base}{path}?{urlencode(params)}"
                if label.startswith("company autocomplete"):
                    url = f"{base}/contacts/companies?{urlencode(params)}"
                for _ in range(pages - 1):
                    # Page N through the pager's links, as a person gets there.
                    async with http.get(url, headers={"Accept": "text/html"}) as resp:
                        found = NEXT.search(await resp.text())
                    assert found is not None, label
                    url = base + found[1].replace("&amp;", "&")
                rows = 0
                order = ""

                async def fetch(url: str = url) -> None:
                    nonlocal rows, order
                    async with http.get(url, headers={"Accept": "text/html"}) as resp:
                        body = await resp.text()
                        assert resp.status == 200, (resp.status, body[:200])
                        listed = "/contacts?" in url or url.endswith("/contacts")
                        rows = (body.count('<th scope="row">') if listed
                                else body.count('"id"'))
                        # The order the page says it is in, and whether its walk stopped
                        # short of a page ("keep looking"): a bounded read of a sparse
                        # combination.
                        found = ORDER.search(body)
                        order = (found[1] if found else "") + (
                            ", stopped" if "data-stopped" in body else "")

                spent = await timed(fetch, requests)
                results[label] = {"query": url.removeprefix(base), "rows": rows,
                                  "order": order,
                                  "p50_ms": percentile(spent, 0.5),
                                  "p95_ms": percentile(spent, 0.95)}
    finally:
        await runner.cleanup()
    return results


async def import_rate(db: Database, rows: int) -> Json:
    lines = ["Nombre;Apellidos;Móvil;Empresa;Etiquetas;Lista"]
    rnd = random.Random(5)
    # Numbers this database has not seen (duplicates would be skipped, and the rate would
    # not be an import's).
    top = await db.fetchone("SELECT COALESCE(MAX(id), 0) AS n FROM contacts")
    offset = 7 * int(top["n"]) if top else 0
    for i in range(rows):
        number = (offset + i * 104729) % 10**8
        lines.append(f"{rnd.choice(FIRST)};{rnd.choice(LAST)};6{number:08d};"
                     f"{rnd.choice(FIRMS)} {i % 300};Importado;Campaña importada {i % 5}")
    table = contact_import.read_table(("\n".join(lines) + "\n").encode())
    mapping = contact_import.guess_mapping(table.headers)
    options = contact_import.ImportOptions(region=REGION)
    start = time.perf_counter()
    contact_import.build_batch(2, table.rows, table.headers, mapping, options)
    checked = time.perf_counter() - start
    start = time.perf_counter()
    result = await contact_import.run_import(db, table, mapping, options)
    spent = time.perf_counter() - start
    # Leave a reused database as it was: imported contacts on top of the ids would make
    # the next run's searches (newest first) start in a stretch without matches.
    await db.execute("DELETE FROM contacts WHERE id > ?", (int(top["n"]) if top else 0,))
    return {"rows": rows, "imported": result.imported, "failed": result.failed,
            "duplicates_skipped": result.skipped,
            "rows_per_s": rows / spent, "seconds": spent,
            "baseline_check_only_rows_per_s": rows / checked}


def sample_numbers(count: int) -> list[str]:
    """The numbers ``generate`` hands back, for a database generated earlier."""
    step = max(1, count // 2000)
    return [mobile(i) for i in range(step, count + 1, step)]


async def run(args: argparse.Namespace) -> Json:
    with tempfile.TemporaryDirectory(prefix="bench-contacts-") as tmp:
        data_dir = Path(args.data_dir or tmp)
        settings = Settings(data_dir=str(data_dir), region=REGION)
        generated = 0.0
        if args.data_dir and Path(settings.database_path).exists():
            # Reuse: generating a million rows takes minutes on a busy machine.
            numbers = sample_numbers(args.contacts)
            print(f"reusing {settings.database_path}", file=sys.stderr)
        else:
            db = await open_database(settings.database_path)
            await db.close()
            start = time.perf_counter()
            numbers = generate(Path(settings.database_path), args.contacts)
            generated = time.perf_counter() - start
            print(f"generated {args.contacts} contacts in {generated:.1f} s", file=sys.stderr)
        db = await open_database(settings.database_path)
        await db.close()
        add_activity(Path(settings.database_path))
        first_disposition = sqlite3.connect(settings.database_path).execute(
            "SELECT MIN(id) FROM dispositions WHERE name = ?", (DISPOSITIONS[0],)).fetchone()[0]
        db = await open_database(settings.database_path)
        try:
            # Right after opening, while the file is read into the page cache
            # (crm/db_prefetch.py), and again once it has been, as a server that has
            # been up for a few seconds has it.
            cold = await caller_id(db, numbers, args.lookups, seed=12)
            started = time.perf_counter()
            if db.prefetching is not None:
                await asyncio.to_thread(db.prefetching.join)
            cid = await caller_id(db, numbers, args.lookups)
            cid["just_opened"] = cold
            cid["read_ahead_wait_s"] = time.perf_counter() - started
        finally:
            await db.close()
        some = numbers[len(numbers) // 2]
        queries = {
            "baseline: first page, no search": {},
            "name prefix (2 letters)": {"q": "ma"},
            "name word": {"q": "garcia"},
            "mid-word": {"q": "wisniew"},
            "two words": {"q": "zofia nowak"},
            "first name late in the alphabet": {"q": "zofia"},
            "number, in part": {"q": some[-6:]},
            "number, national": {"q": national(some)},
            "list filter": {"list": "Campaña 8"},
            "list filter + search": {"list": "Campaña 8", "q": "lopez"},
            "tag filter, page 20": {"tag": "VIP", "pages": "20"},
            "search, page 20": {"q": "garcia", "pages": "20"},
            "last call within 7 days": {"activity": "7d"},
            "never called": {"activity": "never"},
            "last call in a date range": {"active_from": "2026-01-01",
                                          "active_to": "2026-12-31"},
            "disposition": {"disposition": str(first_disposition)},
            "list + disposition + 90 days": {"list": "Campaña 0",
                                             "disposition": str(first_disposition),
                                             "activity": "90d"},
            "company": {"company": str(COMPANY_EVERY + 1)},  # ids 1, 51, 101... are companies
            "tag + never called": {"tag": "VIP", "activity": "never"},
            "list + tag + disposition": {"list": "Campaña 4", "tag": "Moroso",
                                         "disposition": str(first_disposition)},
            "word + disposition": {"q": "garcia", "disposition": str(first_disposition)},
            "word + last call 7 days": {"q": "garcia", "activity": "7d"},
            "two words + list + 30 days": {"q": "zofia nowak", "list": "Campaña 12",
                                           "activity": "30d"},
            "never called, page 20": {"activity": "never", "pages": "20"},
            "company autocomplete (3 letters)": {"q": "tra"},
        }
        search = await http_search(settings, queries, args.requests)
        db = await open_database(settings.database_path)
        try:
            imported = await import_rate(db, args.import_rows)
        finally:
            await db.close()
    return {"contacts": args.contacts, "generate_s": generated, "caller_id": cid,
            "search": search, "import": imported}


def report(results: Json) -> None:
    cid = results["caller_id"]
    made = (f"generated in {results['generate_s']:.0f} s" if results["generate_s"]
            else "generated by an earlier run")
    print(f"\nContacts: {results['contacts']:,} ({made})")
    print("\nCaller-ID lookup (crm.callerid.match)          p50 ms   p99 ms")
    print(f"  {cid['lookups']} lookups, {cid['matched']} matched".ljust(45)
          + f"{cid['p50_ms']:8.3f} {cid['p99_ms']:8.3f}")
    cold = cid["just_opened"]
    print(f"  the same, just opened ({cid['read_ahead_wait_s']:.1f} s more to read ahead)".ljust(45)
          + f"{cold['p50_ms']:8.3f} {cold['p99_ms']:8.3f}")
    print("  baseline: SELECT 1 on the same Database".ljust(45)
          + f"{cid['baseline_select1_p50_ms']:8.3f} {cid['baseline_select1_p99_ms']:8.3f}")
    print("\nGET /contacts through HTTP              rows   p50 ms   p95 ms  order")
    for label, row in results["search"].items():
        print(f"  {label:<36}{row['rows']:>5} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f}"
              f"  {row['order']}")
    imp = results["import"]
    print(f"\nImport of {imp['rows']:,} rows: {imp['rows_per_s']:,.0f} rows/s"
          f" ({imp['imported']:,} imported, {imp['failed']} with errors,"
          f" {imp['duplicates_skipped']} duplicates skipped, {imp['seconds']:.1f} s);"
          f" baseline, checking only: {imp['baseline_check_only_rows_per_s']:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=40, help="per search")
    parser.add_argument("--import-rows", type=int, default=20_000)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--data-dir", type=Path,
                        help="keep the generated database here and reuse it next time"
                             " (each run's import adds its rows to it)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
