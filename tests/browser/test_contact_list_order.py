"""The contact list's order and its bounded pages in headless Chromium: by name when
the matches are few, newest first (and said so) when a search matches more than the
list sorts, and "Keep looking" when a page's walk stopped before filling it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from crm import contact_search

from .test_contacts_pages import _login, _names, _screenshots, pages_server


@pytest.mark.timeout(180)
async def test_order_is_said_and_a_stopped_walk_keeps_looking(
        browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with pages_server(tmp_path) as base:
        page = await _login(browser, base)
        # 40 matches, fewer than the list sorts: by name.
        await page.goto(f"{base}/contacts?q=cliente")
        assert await page.get_attribute("[data-list-order]", "data-list-order") == "name"
        assert (await _names(page))[:3] == ["Cliente 00", "Cliente 01", "Cliente 02"]
        # The server sorts at most 10 (the same rule as 2,000 of a million): newest
        # first, said on the page, and the pager keeps that order on page 2.
        monkeypatch.setattr(contact_search, "NARROW", 10)
        await page.goto(f"{base}/contacts?q=cliente")
        assert await page.get_attribute("[data-list-order]", "data-list-order") == "newest"
        assert "Más de 10 coincidencias" in await page.inner_text("[data-list-order]")
        first = await _names(page)
        assert first[:2] == ["Cliente 39", "Cliente 38"]
        await _screenshots(page, "contact-list-newest-first")
        await page.locator("a[rel=next]").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url("**order=newest*")
        assert (await _names(page))[0] == "Cliente 14"
        # A walk that reads 4 entries per page: most pages come back short; the page
        # says so and "Seguir buscando" goes on from where it stopped, until every
        # match was seen exactly once.
        monkeypatch.setattr(contact_search, "WALK_ROWS", 4)
        await page.goto(f"{base}/contacts?q=cliente")
        seen: list[str] = []
        stopped = 0
        while True:
            seen += await _names(page)
            if await page.locator("[data-stopped]").count():
                stopped += 1
                if stopped == 1:
                    await _screenshots(page, "contact-list-keep-looking")
                assert "Seguir buscando" in await page.inner_text("a[rel=next]")
            following = page.locator("a[rel=next]")
            if not await following.count():
                break
            href = await following.get_attribute("href")
            assert href is not None
            await following.focus()
            await page.keyboard.press("Enter")
            await page.wait_for_url(base + href.replace("&amp;", "&"))
        assert stopped > 0
        assert sorted(seen) == [f"Cliente {i:02d}" for i in range(40)], seen
        assert page.errors == []  # type: ignore[attr-defined]
