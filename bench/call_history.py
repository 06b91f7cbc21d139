"""Call history at scale: the history page's queries, the export, linking new records.

    python -m bench.call_history [--calls N] [--contacts C] [--json out.json]

1. Generates C contacts (default 50,000; companies every 50th, lists) and N call records
   (default 500,000) for 40 agents over a year, straight into a fresh database with SQL;
   a third of the calls are with known contacts, some have a disposition.
2. ``crm.call_history.fetch_page`` for the filters the page offers, as a supervisor and
   as an agent, p50/p95 over repeated runs. Baselines in the same run: ``SELECT 1``
   through the same ``Database`` (the aiosqlite round trip) and the unfiltered page.
3. ``fetch_all`` of one agent's month (the CSV export's query) and the CSV text it makes.
4. ``crm.call_records.link_pending`` over R records written without the numbering plan
   (as the gateway writes them), records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crm import call_history, call_records, clock, contact_export
from crm.call_flow import Outcome
from crm.call_history import HistoryFilter, Viewer
from crm.contacts import fold, search_key
from crm.db import Database, open_database
from crm.users import Role

Json = dict[str, Any]
AGENTS = 40
START = datetime(2025, 1, 1, tzinfo=UTC)
REPS = 30


def _mobile(i: int) -> str:
    return f"+346{i:08d}"


def _seed(path: Path, calls: int, people: int) -> None:
    """Rows straight through sqlite3 (executemany): the schema is already migrated."""
    rng = random.Random(7)
    stamp = clock.to_db(START)
    conn = sqlite3.connect(path)
    try:
        conn.executemany(
            "INSERT INTO users (username, username_key, display_name, role, language,"
            " password_hash, dialer_enabled, dialer_user_toggle_allowed, active, created_at)"
            " VALUES (?, ?, ?, 'agent', '', 'x', 1, 0, 1, ?)",
            [(f"agent{i}", f"agent{i}", f"Agent {i}", stamp) for i in range(AGENTS)])
        conn.execute("INSERT INTO disposition_categories (name, name_key, kind, created_at)"
                     " VALUES ('Ventas', 'ventas', 'success', ?)", (stamp,))
        conn.execute("INSERT INTO dispositions (category_id, name, name_key, created_at)"
                     " VALUES (1, 'Venta', 'venta', ?)", (stamp,))
        contacts = []
        for i in range(1, people + 1):
            company = None if i % 50 == 0 or i < 50 else (i // 50) * 50
            name = f"Contact {i}"
            contacts.append((i, "company" if i % 50 == 0 else "person", name, fold(name),
                             search_key(name, "", None, ()), company, stamp, stamp))
        conn.executemany(
            "INSERT INTO contacts (id, kind, name, name_key, search_key, company_id,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", contacts)
        conn.executemany("INSERT INTO contact_phones (contact_id, label, e164)"
                         " VALUES (?, 'mobile', ?)",
                         [(i, _mobile(i)) for i in range(1, people + 1)])
        conn.executemany("INSERT INTO contact_lists (contact_id, list, list_key)"
                         " VALUES (?, 'Campaña', 'campana')",
                         [(i,) for i in range(7, people + 1, 7)])
        outcomes = [o.value for o in Outcome]
        records, work = [], []
        for n in range(calls):
            at = START + timedelta(seconds=rng.randrange(365 * 86400))
            known = rng.random() < 0.33
            who = rng.randrange(1, people + 1)
            e164 = _mobile(who) if known else f"+3491{rng.randrange(10**7):07d}"
            records.append((
                f"c{n}", rng.randrange(1, AGENTS + 1), rng.choice(("inbound", "outbound")),
                e164[3:], rng.choice(outcomes), clock.to_db(at),
                clock.to_db(at + timedelta(seconds=5)), clock.to_db(at + timedelta(seconds=90)),
                clock.to_db(at), clock.to_db(at), e164, who if known else None))
            if n % 10 == 0:
                work.append((f"c{n}", stamp, stamp))
        conn.executemany(
            "INSERT INTO call_records (id, user_id, direction, local_number, remote_number,"
            " remote_name, state, outcome, started_at, answered_at, ended_at, created_at,"
            " updated_at, remote_e164, contact_id) VALUES"
            " (?, ?, ?, '1001', ?, '', 'ended', ?, ?, ?, ?, ?, ?, ?, ?)", records)
        conn.executemany("INSERT INTO call_work (call_id, user_id, disposition_id, created_at,"
                         " updated_at) VALUES (?, 1, 1, ?, ?)", work)
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


async def _timed(run: Callable[[], Awaitable[object]], reps: int = REPS) -> Json:
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        await run()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 3)}


async def _queries(db: Database) -> Json:
    sup, agent = Viewer(999, Role.SUPERVISOR), Viewer(3, Role.AGENT)
    month = START + timedelta(days=180)
    cases: dict[str, tuple[HistoryFilter, Viewer]] = {
        "supervisor, no filter (baseline page)": (HistoryFilter(), sup),
        "agent, own calls": (HistoryFilter(), agent),
        "inbound, one month": (HistoryFilter(direction="inbound", since=month,
                                             until=month + timedelta(days=30)), sup),
        "one contact": (HistoryFilter(contact_id=1234), sup),
        "one number": (HistoryFilter(number_keys=(_mobile(1234),)), sup),
        "one company": (HistoryFilter(company_id=1250), sup),
        "one list": (HistoryFilter(list="Campaña"), sup),
        "missed": (HistoryFilter(outcome=Outcome.MISSED), sup),
        "disposition": (HistoryFilter(disposition_id=1), sup),
        "agent, page 50": (HistoryFilter(), agent),
    }
    results: Json = {"SELECT 1 (baseline round trip)": await _timed(
        lambda: db.fetchone("SELECT 1"))}
    for name, (where, viewer) in cases.items():
        page = 50 if name.endswith("page 50") else 1

        def run(w: HistoryFilter = where, v: Viewer = viewer,
                p: int = page) -> Awaitable[object]:
            return call_history.fetch_page(db, w, v, page=p)

        results[name] = await _timed(run)
    return results


async def _export(db: Database) -> Json:
    where = HistoryFilter(agent_id=3, since=START + timedelta(days=180),
                          until=START + timedelta(days=211))
    began = time.perf_counter()
    calls = await call_history.fetch_all(db, where, Viewer(1, Role.SUPERVISOR))
    fetched = time.perf_counter()
    cells = [[contact_export.neutralise(str(c.started_at)), contact_export.neutralise(
        c.dial_target)] for c in calls]
    text = contact_export.csv_lines(cells, ";")
    done = time.perf_counter()
    return {"rows": len(calls), "query_ms": round((fetched - began) * 1000, 1),
            "csv_ms": round((done - fetched) * 1000, 1), "bytes": len(text.encode())}


async def _linking(db: Database, rows: int) -> Json:
    rng = random.Random(3)
    now = clock.utc_now()
    for n in range(rows):
        # A third are known contacts' mobiles, as a PBX sends them (national format).
        number = (f"6{rng.randrange(1, 50_000):08d}" if n % 3 == 0
                  else f"91{rng.randrange(10**7):07d}")
        await call_records.create(db, f"new{n}", 1, "inbound", "1001", number, "", now)
    began = time.perf_counter()
    read = 0
    while (batch := await call_records.link_pending(db, "ES")) > 0:
        read += batch
    seconds = time.perf_counter() - began
    return {"records": rows, "distinct_numbers": read, "seconds": round(seconds, 2),
            "records_per_s": round(rows / seconds)}


async def main(argv: list[str]) -> Json:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500_000)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--link", type=int, default=5_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        await (await open_database(path)).close()  # the schema, migrated
        began = time.perf_counter()
        _seed(path, args.calls, args.contacts)
        seeded = time.perf_counter() - began
        db = await open_database(path)
        try:
            report: Json = {"calls": args.calls, "contacts": args.contacts,
                            "seed_s": round(seeded, 1), "queries": await _queries(db),
                            "export": await _export(db),
                            "linking": await _linking(db, args.link)}
        finally:
            await db.close()
    print(f"{args.calls:,} call records, {args.contacts:,} contacts (seeded in "
          f"{report['seed_s']} s)")
    print(f"{'query':40} {'p50 ms':>9} {'p95 ms':>9}")
    for name, figures in report["queries"].items():
        print(f"{name:40} {figures['p50_ms']:9.2f} {figures['p95_ms']:9.2f}")
    export = report["export"]
    print(f"export: {export['rows']} rows, query {export['query_ms']} ms, "
          f"CSV {export['csv_ms']} ms, {export['bytes']:,} bytes")
    linking = report["linking"]
    print(f"linking: {linking['records']} records ({linking['distinct_numbers']} numbers) in "
          f"{linking['seconds']} s, {linking['records_per_s']}/s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
