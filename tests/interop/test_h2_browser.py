"""The chat over HTTP/2 in a real browser (RFC 8441): headless Chromium loads
the chat page from examples/h2_server.py over TLS with ALPN h2 (a
certificate made at test time) and joins, which opens the chat's WebSocket
to the same origin.  The server's log says each WebSocket arrived as an
extended CONNECT on a stream of the page's HTTP/2 connection (the server
offers no HTTP/1.1 at all); two users in two tabs chat both ways, with
compression, and closing a tab is a clean leave."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..helpers import ROOT, Example, example


@pytest.fixture
def browser() -> Iterator[Browser]:
    exe = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
    assert exe, "no Chromium on PATH: python3 dev.py test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        # The certificate is made by trustme at test time: not one the browser trusts.
        args = ["--no-sandbox", "--ignore-certificate-errors"]
        browser = playwright.chromium.launch(executable_path=exe, args=args, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Example]:
    cert = trustme.CA().issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    with example(
        ROOT / "examples" / "h2_server.py", "--certfile", str(certfile), "--keyfile", str(keyfile)
    ) as running:
        yield running


def join(browser: Browser, server: Example, nickname: str) -> Page:
    page = browser.new_page()
    page.set_default_timeout(10_000)
    response = page.goto(f"https://127.0.0.1:{server.port}/")
    assert response is not None
    assert response.ok
    page.fill("#nick", nickname)
    page.click("#join button")
    expect(page.locator("#log")).to_contain_text(f"you joined as {nickname}")
    return page


def test_rfc8441_chromium_chats_over_websockets_on_the_pages_http2_connection(
    browser: Browser, server: Example
) -> None:
    ada = join(browser, server, "ada")
    first = server.wait_for_line(r"^websocket on HTTP/2 stream (\d+): :method CONNECT, :protocol websocket$")
    assert int(first.group(1)) > 1  # a later stream of the connection that carried the page
    server.wait_for_line(r"^join 'ada' \(compressed\)$")
    assert "permessage-deflate" in ada.evaluate("ws.extensions")
    bob = join(browser, server, "bob")
    server.wait_for_line(r"^join 'bob' \(compressed\)$")
    assert sum("websocket on HTTP/2 stream" in line for line in server.lines) == 2
    expect(ada.locator("#log")).to_contain_text("bob joined")

    bob.fill("#text", "hello over h2")
    bob.press("#text", "Enter")
    expect(ada.locator("#log")).to_contain_text("bob: hello over h2")
    ada.fill("#text", "¿y ahora? 👋")
    ada.press("#text", "Enter")
    expect(bob.locator("#log")).to_contain_text("ada: ¿y ahora? 👋")

    # Leaving by the page's own close: a clean closing handshake on the stream.
    bob.evaluate("ws.close(1000)")
    expect(ada.locator("#log")).to_contain_text("bob left")
    server.wait_for_line(r"^leave 'bob' \(close 1000\)$")
    # Closing a tab: over HTTP/2 Chromium resets the stream (RST_STREAM, CANCEL)
    # without a close frame, where over HTTP/1.1 it sends 1001 first; a reset
    # is a TCP reset (RFC 8441, 5), reported as 1006, and the user has left.
    ada.close()
    server.wait_for_line(r"^leave 'ada' \(close 100[016]\)$")
