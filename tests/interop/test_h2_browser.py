"""A real browser over HTTP/2 (RFC 8441): headless Chromium loads the page of
examples/h2_server.py over TLS with ALPN h2 (a certificate made at test time)
and opens its WebSocket to the same origin.  The server's log says the
WebSocket arrived as an extended CONNECT on a stream of the page's HTTP/2
connection (the server offers no HTTP/1.1 at all); messages go both ways and
the close is clean."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from playwright.sync_api import Browser, sync_playwright

from ..helpers import ROOT, example


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


def test_rfc8441_chromium_opens_the_websocket_on_the_pages_http2_connection(
    browser: Browser, tmp_path: Path
) -> None:
    cert = trustme.CA().issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    server_args = ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    with example(ROOT / "examples" / "h2_server.py", *server_args) as server:
        page = browser.new_page()
        page.set_default_timeout(10_000)
        response = page.goto(f"https://127.0.0.1:{server.port}/")
        assert response is not None
        assert response.ok
        page.wait_for_function("window.received.length === 1")
        assert page.evaluate("window.received") == ["hello over h2"]
        stream = server.wait_for_line(
            r"^websocket on HTTP/2 stream (\d+): :method CONNECT, :protocol websocket$"
        )
        assert int(stream.group(1)) > 1  # a later stream of the connection that carried the page
        server.wait_for_line(rf"^message on stream {stream.group(1)}: 'hello over h2'$")
        page.evaluate("ws.send('¿y ahora? 👋')")
        page.wait_for_function("window.received.length === 2")
        assert page.evaluate("window.received[1]") == "¿y ahora? 👋"
        page.evaluate("ws.close(1000)")
        page.wait_for_function("window.closeCode === 1000")
        server.wait_for_line(rf"^close on stream {stream.group(1)}: 1000$")
