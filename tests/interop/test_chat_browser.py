"""The chat of examples/chat/ in a real browser: headless Chromium (the
system's, installed by the test command) driven by Playwright, two users in
two tabs.  What a person would check by hand: each sees the other's message
and the joins and leaves, the browser negotiated compression, and closing a
tab reaches the server as a clean close.  The screenshot is for a person:
reports/chat.png."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..helpers import ROOT
from .chat_process import Chat, chat_server

SCREENSHOT = ROOT / "reports" / "chat.png"


@pytest.fixture
def browser() -> Iterator[Browser]:
    exe = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
    assert exe, "no Chromium on PATH: python3 dev.py test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=exe, args=["--no-sandbox"], timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def join(browser: Browser, chat: Chat, nickname: str) -> Page:
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(chat.url)
    page.fill("#nick", nickname)
    page.click("#join button")
    expect(page.locator("#log")).to_contain_text(f"you joined as {nickname}")
    return page


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_two_users_in_chromium_chat_and_a_closed_tab_is_a_clean_leave(browser: Browser) -> None:
    with chat_server() as chat:
        ada = join(browser, chat, "ada")
        bob = join(browser, chat, "bob ü")  # URL-encoded by the page
        expect(ada.locator("#log")).to_contain_text("bob ü joined")
        chat.wait_for_line(r"^join 'ada' \(compressed\)$")
        chat.wait_for_line(r"^join 'bob ü' \(compressed\)$")
        assert "permessage-deflate" in ada.evaluate("ws.extensions")

        say(bob, "hello from bob")
        expect(ada.locator("#log")).to_contain_text("bob ü: hello from bob")
        say(ada, "hi bob, ¿qué tal? 👋")
        expect(bob.locator("#log")).to_contain_text("ada: hi bob, ¿qué tal? 👋")
        expect(bob.locator("#log")).to_contain_text("me: hello from bob")
        # Nobody gets their own message back: one line each, the page's own.
        expect(bob.locator("#log div", has_text="hello from bob")).to_have_count(1)

        bob.close()
        expect(ada.locator("#log")).to_contain_text("bob ü left")
        code = chat.wait_for_line(r"^leave 'bob ü' \(close (\d+)\)$").group(1)
        assert code in {"1000", "1001"}, f"a closed tab ended with {code}, not a clean close"
        SCREENSHOT.parent.mkdir(exist_ok=True)
        ada.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 0
