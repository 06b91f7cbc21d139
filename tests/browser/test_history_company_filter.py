"""The call history's company filter in headless Chromium: the contacts list's
accessible combobox (web/static/combobox.js over GET /contacts/companies), used with the
keyboard only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from crm import call_records, clock, contacts, users
from crm.contacts import ContactDraft, ContactKind, ContactPhone, PhoneLabel
from crm.db import Database

from .test_contacts_pages import _login, _screenshots, pages_db, pages_server


async def _company_calls(db: Database) -> None:
    """Two companies starting alike, a person in each, one call with each person."""
    sara = await users.get_by_username(db, "sara")
    assert sara is not None
    for i, company in enumerate(("Transportes García", "Transportes Łódź")):
        found = await contacts.create_contact(db, ContactDraft(kind=ContactKind.COMPANY,
                                                               name=company))
        number = f"+3461111000{i}"
        await contacts.create_contact(db, ContactDraft(
            kind=ContactKind.PERSON, name=("Pilar", "Łucja")[i], company_id=found.id,
            phones=(ContactPhone(PhoneLabel.MOBILE, number),)))
        await call_records.create(db, f"call-{i}", sara.id, "inbound", "1001", number, "",
                                  clock.utc_now() - timedelta(hours=i + 1), region="ES")


async def _shown_contacts(page: Page) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(
        "table.history tr[data-call-id]", "rows => rows.map(r => r.dataset.callId)")
    return ids


@pytest.mark.timeout(180)
async def test_history_company_filter_is_the_combobox(browser: Browser,
                                                      tmp_path: Path) -> None:
    async with pages_server(tmp_path) as base:
        await _company_calls(pages_db(base))
        page = await _login(browser, base)
        await page.goto(f"{base}/history")
        await page.wait_for_selector("table.history")
        assert sorted(await _shown_contacts(page)) == ["call-0", "call-1"]
        combo = page.locator("#company_name")
        assert await combo.get_attribute("role") == "combobox"
        assert await page.locator("select#company").count() == 0
        # Keyboard only: reach the field with Tab from the one before it, type, arrow
        # down twice, Enter to pick, Enter again to filter.
        await page.locator("#number").focus()
        while not await combo.evaluate("el => el === document.activeElement"):
            await page.keyboard.press("Tab")
        await page.keyboard.type("transp")
        await page.wait_for_selector("#company_name-options li >> nth=1")
        assert await combo.get_attribute("aria-expanded") == "true"
        assert await page.locator("#company_name-options li").all_inner_texts() == [
            "Transportes García", "Transportes Łódź"]
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("ArrowDown")
        active = await combo.get_attribute("aria-activedescendant")
        assert active and await page.inner_text(f"#{active}") == "Transportes Łódź"
        await _screenshots(page, "history-company-combobox")
        await page.keyboard.press("Enter")
        assert await combo.input_value() == "Transportes Łódź"
        assert await combo.get_attribute("aria-expanded") == "false"
        await page.keyboard.press("Enter")
        await page.wait_for_url("**company=*")
        assert await _shown_contacts(page) == ["call-1"]
        assert "Łucja" in await page.inner_text("tr[data-call-id='call-1']")
        # The filtered page keeps the picked name in the field.
        assert await page.input_value("#company_name") == "Transportes Łódź"
        await _screenshots(page, "history-company-filtered")
        # Escape empties the field and forgets the pick: every call again.
        await combo.focus()
        await page.keyboard.press("Escape")
        assert await combo.input_value() == ""
        assert await page.input_value("input[name=company]") == ""
        await page.keyboard.press("Enter")
        await page.wait_for_selector("tr[data-call-id='call-0']")
        assert sorted(await _shown_contacts(page)) == ["call-0", "call-1"]
        assert page.errors == []  # type: ignore[attr-defined]
        # A name no company has, typed without a pick: said next to the field in the
        # user's language (the page answers 400, which is all the console reports).
        await page.goto(f"{base}/history?company_name=Nadie")
        assert await page.locator("#company_name-error").is_visible()
        assert "No hay ninguna empresa llamada" in await page.inner_text(
            "#company_name-error")
        await _screenshots(page, "history-company-error")
