"""examples/h3_server.py as a real process, over UDP on loopback, driven by
an aioquic HTTP/3 client that opens a WebSocket with
wsproto_lite.extended_connect (RFC 9220): the server logs an extended CONNECT
on an HTTP/3 stream, echoes text and binary, and the close is clean."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import trustme
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent

from wsproto_lite import Connection
from wsproto_lite import extended_connect as xc
from wsproto_lite.events import Close, Event, Message, Request

from ..helpers import ROOT, example


class Client(QuicConnectionProtocol):
    """An HTTP/3 client with one WebSocket stream; its events go to a queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.request = Request("localhost", "/ws")
        self.stream_id = -1
        self.ws: Connection | None = None
        self.events: asyncio.Queue[Event | str] = asyncio.Queue()

    def open(self) -> None:
        self.stream_id = self._quic.get_next_available_stream_id()
        self.h3.send_headers(self.stream_id, xc.request_headers(self.request))
        self.transmit()

    def send(self, event: Event) -> None:
        assert self.ws is not None
        data = self.ws.send(event)
        self.h3.send_data(self.stream_id, data, end_stream=self.ws.should_close_transport)
        self.transmit()

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived) and self.ws is None:
                status = int(dict(h3_event.headers)[b":status"])
                answer = xc.parse_response(self.request, status, h3_event.headers)
                assert isinstance(answer, Connection), answer
                self.ws = answer
                self.events.put_nowait("open")
            elif isinstance(h3_event, DataReceived) and self.ws is not None:
                if h3_event.data:
                    self.ws.receive_data(h3_event.data)
                if h3_event.stream_ended:
                    self.ws.receive_data(b"")
                for ws_event in self.ws.events():
                    self.events.put_nowait(ws_event)
                if h3_event.stream_ended:
                    self.events.put_nowait("stream ended")
                out = self.ws.data_to_send()
                if out:
                    self.h3.send_data(self.stream_id, out, end_stream=self.ws.should_close_transport)
        self.transmit()


async def talk(port: int, cafile: Path) -> list[Event | str]:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name="localhost")
    configuration.load_verify_locations(str(cafile))
    seen: list[Event | str] = []
    async with connect("127.0.0.1", port, configuration=configuration, create_protocol=Client) as client:
        assert isinstance(client, Client)
        client.open()

        async def next_event() -> Event | str:
            seen.append(await asyncio.wait_for(client.events.get(), timeout=10))
            return seen[-1]

        assert await next_event() == "open"
        client.send(Message("hello over h3 ✓"))
        assert await next_event() == Message("hello over h3 ✓")
        client.send(Message(b"\x00" * 100_000))
        assert await next_event() == Message(b"\x00" * 100_000)
        client.send(Close(1000, "bye"))
        while "stream ended" not in seen:
            await next_event()
    return seen


def test_rfc9220_the_h3_example_echoes_over_an_extended_connect(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    with example(
        ROOT / "examples" / "h3_server.py", "--certfile", str(certfile), "--keyfile", str(keyfile)
    ) as server:
        seen = asyncio.run(talk(server.port, cafile))
        stream = server.wait_for_line(
            r"^websocket on HTTP/3 stream (\d+): :method CONNECT, :protocol websocket$"
        )
        server.wait_for_line(rf"^message on stream {stream.group(1)}: 'hello over h3 ✓'$")
        server.wait_for_line(rf"^close on stream {stream.group(1)}: 1000$")
    assert Close(1000, "", by_peer=True) in seen
