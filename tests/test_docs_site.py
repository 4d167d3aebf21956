"""The documentation site (docs/): it builds without a warning, every code
block of the tutorial and the how-to guides runs, its links lead somewhere,
and the sentences a test can check say what the code does."""

from __future__ import annotations

import asyncio
import inspect
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wsproto_lite import Connection, LocalProtocolError, Role
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Request
from wsproto_lite.extensions import PerMessageDeflate, wire_bound

from .helpers import ROOT, events, frame, pair
from .test_docs import code_blocks, run_blocks
from .test_docstrings import PUBLIC_MODULES, public_names

DOCS = ROOT / "docs"
#: The pages whose code a reader copies: each block runs, in page order.
TAUGHT = [
    "docs/index.md",
    "docs/tutorial.md",
    *sorted(f"docs/howto/{page.name}" for page in (DOCS / "howto").glob("*.md")),
]


@pytest.mark.build
def test_the_site_builds_without_a_warning(tmp_path: Path) -> None:
    """Sphinx in nitpicky mode, warnings as errors: a link to a page or a
    heading that does not exist, a name the reference does not document, a
    page outside the table of contents or a docstring that is not valid
    reStructuredText fails here."""
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html"]
    result = subprocess.run(
        [*command, str(DOCS), str(tmp_path / "html")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "html" / "index.html").exists()
    reference = (tmp_path / "html" / "reference" / "connection.html").read_text()
    assert "receive_data" in reference  # generated from the docstrings
    # Every public name has its entry, under its module or where it is defined.
    ids: set[str] = set()
    for page in (tmp_path / "html" / "reference").glob("*.html"):
        ids |= set(re.findall(r'id="([\w.]+)"', page.read_text()))
    missing = [
        f"{module}.{name}"
        for module in PUBLIC_MODULES
        for name in public_names(module)
        if f"{module}.{name}" not in ids
        and f"{getattr(getattr(sys.modules[module], name), '__module__', '')}.{name}" not in ids
    ]
    assert not missing, f"the reference does not document {missing}"
    states = (tmp_path / "html" / "topics" / "states.html").read_text()
    drawn = [image.name for image in (tmp_path / "html" / "_images").glob("graphviz-*.svg")]
    assert len(drawn) == 1  # the state diagram
    assert drawn[0] in states


@pytest.mark.parametrize("page", TAUGHT)
def test_every_code_block_of_the_tutorial_and_the_guides_runs(page: str) -> None:
    assert code_blocks(page), f"{page} has no Python code block"
    run_blocks(page)


def test_every_page_is_markdown_in_a_section() -> None:
    """The site's sections are folders: a page outside them is not taught."""
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md") if "_build" not in path.parts}
    loose = {page for page in pages if "/" not in page} - {"index.md", "tutorial.md", "limitations.md"}
    assert not loose, f"put these in howto/, topics/ or reference/: {sorted(loose)}"


def test_readme_links_lead_to_files() -> None:
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r"^\[[^\]]+\]: (\S+)", text, re.M)
    local = [target for target in targets if "://" not in target]
    assert local
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    assert "docs/limitations.md" in local
    assert "python3 dev.py docs" in text


# -- Sentences the code must keep true ----------------------------------------------


def default(name: str) -> Any:
    return inspect.signature(Connection).parameters[name].default


def test_the_limits_table_gives_the_constructor_defaults() -> None:
    """docs/howto/limits.md: "| `max_message_size` | 1 MiB (`2**20` bytes) |"..."""
    text = (DOCS / "howto" / "limits.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, re.M))
    assert f"`2**{default('max_message_size').bit_length() - 1}`" in rows["max_message_size"]
    assert default("max_message_size") == 2**20
    assert rows["max_frame_size"].strip() == "none"
    assert default("max_frame_size") is None
    assert rows["max_handshake_size"].strip() == f"{default('max_handshake_size') // 1024} KiB"
    assert "The message and handshake limits are on by default; the frame limit is off" in text


def test_the_timeouts_are_off_unless_set() -> None:
    """docs/howto/keepalive.md: the four timers are "off unless set"."""
    assert "off unless\nset" in (DOCS / "howto" / "keepalive.md").read_text()
    for name in ("ping_interval", "ping_timeout", "close_timeout", "open_timeout"):
        assert default(name) is None
    conn = Connection(Role.SERVER)
    conn.handle_timer(0.0)
    assert conn.get_timer() is None


def test_a_ping_is_answered_only_while_open() -> None:
    """docs/topics/states.md: a pong is queued for a ping in OPEN, not once
    our close frame is sent (LOCAL_CLOSING)."""
    client, server = pair()
    client.receive_data(server.send(Ping(b"1")))
    assert events(client) == [Ping(b"1")]
    assert client.data_to_send()  # the pong
    client.send(Close())
    client.receive_data(server.send(Ping(b"2")))
    assert events(client) == [Ping(b"2")]
    assert client.data_to_send() == b""


def test_a_client_is_open_as_soon_as_the_101_is_received() -> None:
    """docs/topics/states.md: CONNECTING -> OPEN when receive_data() takes a
    valid 101; events() then yields Accept."""
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    events(server)
    client.receive_data(server.send(Accept()))
    assert client.state.name == "OPEN"
    assert events(client) == [Accept()]


def test_keepalive_pings_are_counted_from_the_previous_ping() -> None:
    """The keepalive guide: the next ping is due ping_interval after the
    previous ping was sent, once its pong has arrived."""
    client, server = pair(server_opts={"ping_interval": 10.0})
    server.handle_timer(0.0)
    server.handle_timer(10.0)
    client.receive_data(server.data_to_send())
    events(client)
    server.receive_data(client.data_to_send(), now=15.0)
    assert [type(e) for e in events(server)] == [Pong]
    assert server.get_timer() == 20.0


# -- The guides' code, run as the guides use it -------------------------------------


def relay_guide() -> tuple[Callable[..., tuple[bytes, bytes]], dict[str, Any]]:
    """docs/howto/proxies.md's ``pump`` and the options of its connections."""
    namespace = run_blocks("docs/howto/proxies.md")
    return namespace["pump"], namespace["RELAY_OPTIONS"]


def test_proxies_relay_passes_every_event_both_ways() -> None:
    """docs/howto/proxies.md: a client, the relay's two connections, and an
    upstream server, all in memory: a fragmented message, a ping and its
    pong, and a closing handshake go through."""
    pump, options = relay_guide()
    client, downstream = pair(server_opts=options)
    upstream, server = pair(client_opts=options)

    def through(data: bytes, side: Connection, other: Connection) -> bytes:
        back, onward = pump(side, data, other)
        assert back == b""  # nothing goes back on a clean relay
        return bytes(onward)

    server.receive_data(through(client.send(Message("hel", message_finished=False)), downstream, upstream))
    server.receive_data(through(client.send(Message("lo")), downstream, upstream))
    assert events(server) == [Message("hello")]
    client.receive_data(through(server.send(Ping(b"p")), upstream, downstream))
    assert events(client) == [Ping(b"p")]
    server.receive_data(through(client.data_to_send(), downstream, upstream))
    assert events(server) == [Pong(b"p")]
    server.receive_data(through(client.send(Close(1000, "bye")), downstream, upstream))
    assert events(server) == [Close(1000, "bye", by_peer=True)]
    client.receive_data(through(server.data_to_send(), upstream, downstream))
    assert events(client) == [Close(1000, "", by_peer=True)]  # the server's automatic reply
    assert {c.state.name for c in (client, downstream, upstream, server)} == {"CLOSED"}


def test_proxies_relay_survives_a_side_that_ends_while_the_other_talks() -> None:
    """The client's stream ends without a close: the server learns 1001, and
    what it still sends before its close frame is dropped, not raised."""
    pump, options = relay_guide()
    _, downstream = pair(server_opts=options)
    # The server answers close frames itself, later: it may send first.
    upstream, server = pair(client_opts=options, server_opts={"auto_reply": False})
    _, onward = pump(downstream, b"", upstream)
    server.receive_data(onward)
    assert [(e.code, e.by_peer) for e in events(server) if isinstance(e, Close)] == [(1001, True)]
    late = server.send(Message("too late")) + server.send(Ping(b"x")) + server.send(Close(1001))
    back, onward = pump(upstream, late, downstream)
    assert (back, onward) == (b"", b"")
    assert upstream.state.name == "CLOSED"


def test_proxies_relay_sends_a_failures_close_frame_both_ways() -> None:
    """A client that breaks the protocol gets the relay's close frame (1002),
    and the server is told with the same code."""
    pump, options = relay_guide()
    client, downstream = pair(server_opts=options)
    upstream, server = pair(client_opts=options)
    back, onward = pump(downstream, frame(0x3, b"reserved opcode"), upstream)
    client.receive_data(back)
    server.receive_data(onward)
    assert [(e.code, e.by_peer) for e in events(client) if isinstance(e, Close)] == [(1002, True)]
    assert [(e.code, e.by_peer) for e in events(server) if isinstance(e, Close)] == [(1002, True)]


def test_adapter_guide_protocol_echoes_and_refuses_plain_http() -> None:
    """docs/howto/adapter.md's asyncio Protocol, served on loopback, with a
    wsproto_lite client and a plain HTTP request."""
    protocol = run_blocks("docs/howto/adapter.md")["EchoProtocol"]

    async def talk(port: int) -> list[Event]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Connection(Role.CLIENT)
        writer.write(client.send(Request(host="h", target="/")))
        got: list[Event] = []
        while not client.should_close_transport:
            client.receive_data(await asyncio.wait_for(reader.read(65536), 5))
            for event in client.events():
                got.append(event)
                if isinstance(event, Accept):
                    writer.write(client.send(Message("hi")) + client.send(Close()))
        writer.close()
        return got

    async def plain(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)  # the server closes after it
        writer.close()
        return answer

    async def main() -> tuple[list[Event], bytes]:
        server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await talk(port), await plain(port)
        finally:
            server.close()
            await server.wait_closed()

    got, answer = asyncio.run(main())
    assert got == [Accept(), Message("hi"), Close(1000, "", by_peer=True)]
    assert answer.startswith(b"HTTP/1.1 426 ")


def test_uvicorn_guide_app_echoes_and_refuses_other_origins() -> None:
    """docs/howto/uvicorn.md's application, driven through ASGI messages."""
    app = run_blocks("docs/howto/uvicorn.md")["app"]

    async def run(origin: bytes, incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
        queue = [{"type": "websocket.connect"}, *incoming, {"type": "websocket.disconnect", "code": 1000}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "websocket", "headers": [(b"origin", origin)]}
        await app(scope, receive, send)
        return sent

    texts: list[dict[str, Any]] = [
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.receive", "bytes": b"\x00"},
    ]
    assert asyncio.run(run(b"https://app.example.com", texts)) == [
        {"type": "websocket.accept"},
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.send", "bytes": b"\x00"},
    ]
    assert asyncio.run(run(b"https://evil.example", [])) == [{"type": "websocket.close", "code": 1008}]


def test_wsproto_guide_echoes_answer_alike() -> None:
    """docs/howto/wsproto.md: the wsproto echo and the wsproto_lite echo give
    a client the same answers."""
    namespace = run_blocks("docs/howto/wsproto.md")
    for echo, server in (
        (namespace["wsproto_echo"], namespace["wsproto_server"]),
        (namespace["echo"], namespace["server"]),
    ):
        client = Connection(Role.CLIENT)
        client.receive_data(echo(server, client.send(Request(host="h", target="/"))))
        got: list[Event] = events(client)
        client.receive_data(echo(server, client.send(Message("hi")) + client.send(Ping(b"x"))))
        got += events(client)
        client.receive_data(echo(server, client.send(Close())))
        got += events(client)
        assert got == [Accept(), Message("hi"), Pong(b"x"), Close(1000, "", by_peer=True)]


def test_the_close_codes_sentence_matches_what_send_accepts() -> None:
    """docs/topics/states.md, "Close codes": the codes that may be sent are
    the ranges it names (RFC 6455, 7.4.1 and 7.4.2), plus 1005 for a close
    frame without a code, and a reason is at most 123 bytes of UTF-8."""
    text = " ".join((DOCS / "topics" / "states.md").read_text().split())
    sentence = re.search(r"a code that may be sent \(([^)]*)\)", text)
    assert sentence is not None
    ranges = [(int(a), int(b)) for a, b in re.findall(r"(\d{4}) to (\d{4})", sentence.group(1))]
    assert ranges == [(1000, 1003), (1007, 1014), (3000, 4999)]
    assert "a reason over 123 bytes of UTF-8" in text
    for code in range(0, 5200):
        _, server = pair()
        try:
            server.send(Close(code))
        except LocalProtocolError:
            accepted = False
        else:
            accepted = True
        assert accepted == (code == 1005 or any(a <= code <= b for a, b in ranges)), code
        # ...and what is received: the same codes, anything else fails with 1002.
        _, server = pair()
        server.receive_data(frame(0x8, code.to_bytes(2, "big")))
        (event,) = events(server)
        assert isinstance(event, Close)
        sendable = code != 1005 and any(a <= code <= b for a, b in ranges)
        assert (event.by_peer, event.code) == ((True, code) if sendable else (False, 1002)), code
    _, server = pair()
    server.send(Close(1000, "é" * 61 + "x"))  # 123 bytes
    with pytest.raises(LocalProtocolError):
        pair()[1].send(Close(1000, "é" * 62))  # 124


def test_the_compression_ranges_are_what_the_extension_takes() -> None:
    """docs/topics/compression.md: window bits 8-15, compress_level -1-9,
    mem_level 1-9."""
    text = (DOCS / "topics" / "compression.md").read_text()
    ranges = {
        "server_max_window_bits": (8, 15),
        "client_max_window_bits": (8, 15),
        "compress_level": (-1, 9),
        "mem_level": (1, 9),
    }
    for name, (low, high) in ranges.items():
        shown = f"{low}\u2013{high}".replace("-", "\u2212")  # the page's en dash and minus sign
        assert f"| `{name}` ({shown}) |" in text
        for value in (low - 1, low, high, high + 1):
            try:
                PerMessageDeflate(**{name: value})  # type: ignore[arg-type]
            except ValueError:
                assert not low <= value <= high, (name, value)
            else:
                assert low <= value <= high, (name, value)


def test_the_limits_page_formulas_and_sizes() -> None:
    """docs/howto/limits.md: ``wire_bound(left) = left + left // 8 + 64``,
    control frames under 140 bytes, a pong at most 131 bytes."""
    text = (DOCS / "howto" / "limits.md").read_text()
    assert "`wire_bound(left)` = `left + left // 8 + 64`" in text
    for left in (0, 1, 7, 8, 1000, 2**20):
        assert wire_bound(left) == left + left // 8 + 64
    client, server = pair()
    server.receive_data(client.send(Ping(b"x" * 125)))
    events(server)
    assert len(server.data_to_send()) < 140
    client.receive_data(server.send(Ping(b"x" * 125)))
    events(client)
    assert len(client.data_to_send()) == 131  # the masked pong, the largest


def test_the_readme_states_the_bars_the_checks_apply() -> None:
    """README: coverage at least 95%, complexity 20, modules of 600 lines."""
    import tomllib

    from . import test_shape

    readme = " ".join((ROOT / "README.md").read_text().split())
    bar = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]["report"]["fail_under"]
    assert f"(at least {bar}%)" in readme
    assert f"a cyclomatic complexity of {test_shape.MAX_COMPLEXITY} " in readme
    assert f"no module above {test_shape.MAX_LINES} lines" in readme


def test_the_http2_guide_states_the_answers_to_a_bad_request() -> None:
    """docs/howto/http2.md: 405 with ``allow: CONNECT`` for another method,
    400 for a malformed request, 400 with ``sec-websocket-version: 13`` for
    another version; a refusal's status is 300 to 599."""
    from wsproto_lite import InvalidEventError, RemoteProtocolError, extended_connect
    from wsproto_lite.events import Reject

    text = " ".join((DOCS / "howto" / "http2.md").read_text().split())
    assert "(405 with `allow: CONNECT` for another method, 400 for a malformed request, 400 with" in text
    assert "`sec-websocket-version: 13` for another version" in text
    assert "a refusal, status 300 to 599" in text
    good = extended_connect.request_headers(Request("h", "/"))

    def answer(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, tuple[Any, ...]]:
        with pytest.raises(RemoteProtocolError) as caught:
            extended_connect.parse_request(headers)
        return caught.value.status_code, caught.value.headers

    assert answer([(b":method", b"GET"), *good[1:]]) == (405, ((b"allow", b"CONNECT"),))
    assert answer([*good, (b":status", b"200")]) == (400, ())  # a pseudo-header after a header
    version = [(k, b"8" if k == b"sec-websocket-version" else v) for k, v in good]
    assert answer(version) == (400, ((b"sec-websocket-version", b"13"),))
    for status in (200, 299, 600):
        with pytest.raises(InvalidEventError):
            extended_connect.reject(Reject(status))
    for status in (300, 599):
        assert extended_connect.reject(Reject(status))[0] == (b":status", str(status).encode())
