"""Missed calls at scale: what the /missed pages, the badge and the statistics cost.

    python -m bench.missed_calls [--per-day N] [--days D] [--callers C] [--json out.json]

1. Generates D days (default 30, the default retention) of N calls a day (default
   3,300: about 100k records) straight into a fresh database: 70 % inbound, of which
   15 % unanswered (some ringing two agents at once), the rest outbound; callers drawn
   from a pool of C numbers (default 20,000) written as a Spanish PBX sends them; a few
   hundred hide/remove/SMS actions. Then builds the kept folded rows from all of it
   (``missed_row_store.rebuild``: the backfill a database from before migration 0019
   gets on its first read), timed once.
2. What the pages read now (``crm.missed_call_pages`` over the kept rows): the first page
   of each view, a page twenty pages deep (its cursor found by walking), the badge's and
   the hidden tab's counts, one caller's open row (what a row action reads), a month's
   statistics; and what a write costs: one caller refolded (what each call record change
   and action adds to its transaction).
3. The same pages, the badge's count and the statistics through HTTP, as a browser asks.
4. Baselines in the same run: ``SELECT 1`` through the same ``Database`` (the aiosqlite
   round trip), a bare ``COUNT(*)`` of the unanswered inbound legs in the window, and the
   whole-month folds the pages used before (``load_rows``: the removed/all views and the
   statistics; ``load_open_rows``: the badge), over ``--slow-runs``.

Prints a table (milliseconds, p50/p95 over ``--runs``) and the same figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from crm import clock, missed_call_pages, missed_call_store, missed_row_store, users
from crm.db import Database, database_ctx, open_database
from crm.missed_call_pages import Cursor
from crm.missed_calls import RowFilter, View, select
from gateway.settings import Settings
from tests.support.gateway import FAST_HASHING
from web.appkeys import SETTINGS
from web.setup import setup_web

REGION = "ES"


async def generate(db: Database, per_day: int, days: int, callers: int,
                   rng: random.Random) -> dict[str, int]:
    agents = [(await users.create_user(db, f"agent{i}", "bench password 1",
                                       hashing=FAST_HASHING)).id for i in range(20)]
    pool = [f"6{rng.randrange(10**7, 10**8)}" for _ in range(callers)]
    now = clock.utc_now()
    rows: list[tuple[Any, ...]] = []
    missed_legs = 0
    for day in range(days):
        for _ in range(per_day):
            start = now - timedelta(days=day, seconds=rng.randrange(86_400))
            number = rng.choice(pool)
            agent = rng.choice(agents)
            inbound = rng.random() < 0.7
            answered = not inbound or rng.random() > 0.15
            legs = 2 if inbound and not answered and rng.random() < 0.3 else 1
            for leg in range(legs):
                at = start + timedelta(milliseconds=200 * leg)
                answered_at = at + timedelta(seconds=8) if answered else None
                ended = at + timedelta(seconds=rng.randrange(20, 400))
                outcome = "completed" if answered else ("missed" if inbound else "no_answer")
                rows.append((str(uuid.uuid4()), agent, "inbound" if inbound else "outbound",
                             "1001", number if inbound else "+34" + number, "", "ended", outcome,
                             clock.to_db(at),
                             None if answered_at is None else clock.to_db(answered_at),
                             clock.to_db(ended), clock.to_db(at), clock.to_db(ended)))
                missed_legs += int(inbound and not answered)
    async with db.transaction() as tx:
        for row in rows:
            await tx.execute(
                "INSERT INTO call_records (id, user_id, direction, local_number, remote_number,"
                " remote_name, state, outcome, started_at, answered_at, ended_at, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        for _ in range(300):
            await tx.execute(
                "INSERT INTO missed_call_actions (caller_key, kind, user_id, at)"
                " VALUES (?, ?, ?, ?)",
                ("+34" + rng.choice(pool), rng.choice(("hide", "remove", "sms")),
                 agents[0], clock.to_db(now - timedelta(seconds=rng.randrange(86_400 * days)))))
    return {"call_records": len(rows), "unanswered_inbound_legs": missed_legs}


async def timed(fn: Callable[[], Awaitable[object]], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp, region=REGION)
        db = await open_database(settings.database_path)
        try:
            started = time.perf_counter()
            sizes = await generate(db, args.per_day, args.days, args.callers, rng)
            generated_s = time.perf_counter() - started
            started = time.perf_counter()
            await missed_row_store.rebuild(db, REGION, "", args.days)
            backfill_s = time.perf_counter() - started
            now = clock.utc_now()
            since = now - timedelta(days=args.days)
            numbering = missed_call_store.Numbering(REGION)

            async def load() -> object:
                return await missed_call_store.load_rows(db, numbering, since=since, now=now,
                                                         retention_days=args.days)

            rows = await missed_call_store.load_rows(db, numbering, since=since, now=now,
                                                     retention_days=args.days)
            days = args.days

            def page(view: View, before: Cursor | None = None) -> Callable[[], Awaitable[object]]:
                async def run() -> object:
                    return await missed_call_pages.load_page(
                        db, numbering, RowFilter(view), before=before,
                        limit=missed_call_pages.PAGE_SIZE, now=now, retention_days=days)
                return run

            deep: Cursor | None = None
            for _ in range(20):
                walked = await page(View.ALL, deep)()
                assert isinstance(walked, missed_call_pages.Page)
                deep = walked.next
            listed = [row for row in rows if row.closure is None]
            some_key = listed[len(listed) // 2].key if listed else "+34600000000"
            pages = {
                "page_active_first": await timed(page(View.ACTIVE), args.runs),
                "page_all_first": await timed(page(View.ALL), args.runs),
                "page_all_21st": await timed(page(View.ALL, deep), args.runs),
                "page_removed_first": await timed(page(View.REMOVED), args.runs),
                "page_hidden_first": await timed(page(View.HIDDEN), args.runs),
                "hidden_count": await timed(lambda: missed_call_pages.hidden_count(
                    db, numbering, now=now, retention_days=days), args.runs),
                "open_row_of_one_caller": await timed(lambda: missed_call_pages.open_row_of(
                    db, numbering, some_key, now=now, retention_days=days), args.runs),
                "badge_count": await timed(lambda: missed_call_pages.count(
                    db, numbering, View.ACTIVE, now=now, retention_days=days), args.runs),
                "stats_month": await timed(lambda: missed_call_pages.period_stats(
                    db, numbering, since=since, until=now, now=now, retention_days=days),
                    args.runs),
                "write_refold_one_caller": await timed(lambda: refold(db, some_key, now),
                                                       args.runs),
            }
            result = {
                "sizes": sizes,
                "generate_s": round(generated_s, 1),
                "backfill_s": round(backfill_s, 1),
                "rows": {"all": len(rows), "active": len(select(rows, RowFilter(View.ACTIVE))),
                         "hidden": len(select(rows, RowFilter(View.HIDDEN))),
                         "removed": len(select(rows, RowFilter(View.REMOVED)))},
                "pages": pages,
                # Seconds each: fewer runs (their p95 is then close to their worst).
                "load_rows": await timed(load, args.slow_runs),
                "load_open_rows": await timed(lambda: missed_call_store.load_open_rows(
                    db, numbering, now=now, retention_days=args.days), args.slow_runs),
                "baseline_select_1": await timed(lambda: db.fetchone("SELECT 1"), args.runs),
                "baseline_count_seeds": await timed(lambda: db.fetchone(
                    "SELECT COUNT(*) FROM call_records WHERE direction = 'inbound'"
                    " AND answered_at IS NULL AND started_at >= ?", (clock.to_db(since),)),
                    args.runs),
            }
        finally:
            await db.close()
        assert deep is not None
        result["http"] = await http_pages(settings, deep, args.runs)
    return result


async def refold(db: Database, key: str, now: datetime) -> None:
    """What a call record change or an action adds to its transaction."""
    async with db.transaction() as tx:
        kept = await missed_row_store.basis(tx)
        assert kept is not None
        await missed_row_store.refold(tx, kept, key, now)


async def http_pages(settings: Settings, deep: Cursor, runs: int) -> dict[str, Any]:
    """The /missed pages through HTTP, as a browser asks for them (the badge warmed up
    first: it is recounted at most every 10 s, whichever page asks)."""
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    setup_web(app, hashing=FAST_HASHING)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    html = {"Accept": "text/html"}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            base = str(server.make_url("")).rstrip("/")
            page = await (await http.get(f"{base}/login", headers=html)).text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            resp = await http.post(f"{base}/login", headers=html, allow_redirects=False, data={
                "username": "agent0", "password": "bench password 1",
                "csrf_token": token[1], "next": "/"})
            assert resp.status == 303, resp.status
            # The first page after start: the badge's count (and, if the retention
            # differs from the bench's, a rebuild).
            badge_started = time.perf_counter()
            await (await http.get(f"{base}/", headers=html)).read()
            badge_ms = (time.perf_counter() - badge_started) * 1000

            def get(path: str) -> Callable[[], Awaitable[object]]:
                async def run() -> object:
                    async with http.get(base + path, headers=html) as answer:
                        assert answer.status == 200, (path, answer.status)
                        return await answer.read()
                return run

            figures: dict[str, Any] = {"first_page_with_badge_recount_ms": round(badge_ms, 1)}
            for name, path in (
                    ("http_missed_active", "/missed"),
                    ("http_missed_all", "/missed?view=all"),
                    ("http_missed_all_21st", "/missed?" + urlencode(
                        {"view": "all", "before": deep.token(), "page": "21"})),
                    ("http_missed_removed", "/missed?view=removed"),
                    ("http_missed_hidden", "/missed?view=hidden"),
                    ("http_missed_stats", "/missed/stats"),
                    ("http_badge_count", "/api/missed/count")):
                figures[name] = await timed(get(path), runs)
            return figures
    finally:
        await server.close()


def print_table(figures: dict[str, Any]) -> None:
    sizes = figures["sizes"]
    print(f"{sizes['call_records']} call records, {sizes['unanswered_inbound_legs']}"
          f" unanswered inbound legs; rows: {figures['rows']}")
    print(f"{'what':<28}{'p50 ms':>10}{'p95 ms':>10}")
    http = {k: v for k, v in figures["http"].items() if isinstance(v, dict)}
    lines = {**figures["pages"], **http, **{k: figures[k] for k in (
        "load_rows", "load_open_rows", "baseline_select_1", "baseline_count_seeds")}}
    for name, timing in lines.items():
        print(f"{name:<28}{timing['p50_ms']:>10.1f}{timing['p95_ms']:>10.1f}")
    print("first page after start (badge count included):"
          f" {figures['http']['first_page_with_badge_recount_ms']} ms;"
          f" backfill of the kept rows {figures['backfill_s']} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=3300)  # ~100k records a month
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--callers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--slow-runs", type=int, default=3,
                        help="runs of the whole-month folds (seconds each)")
    parser.add_argument("--json", type=Path)
    figures = asyncio.run(main(parser.parse_args()))
    print_table(figures)
    text = json.dumps(figures, indent=2)
    print(text)
    options = parser.parse_args()
    if options.json:
        options.json.write_text(text + "\n", encoding="utf-8")
    sys.exit(0)
