"""A wsproto_lite client that follows the Autobahn TestSuite's client protocol.

It asks the fuzzing server how many cases there are (``/getCaseCount``),
connects once per case (``/runCase``) echoing every message back with its
type until the server closes, and ends the run with ``/updateReports``.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from wsproto_lite import Connection, Role
from wsproto_lite.events import Message, Ping, Request
from wsproto_lite.extensions import PerMessageDeflate

AGENT = "wsproto_lite"
#: kosoku 0.1.0's server asks for client_no_context_takeover only when the
#: offer holds it, so the offer does (13.2, 13.5 and 13.6 need it); the
#: interop tests cover a client compressing with context takeover.
OFFER = PerMessageDeflate(client_no_context_takeover=True)
#: A case that does not end within this many seconds has hung.
CASE_TIMEOUT = 60.0


def session(host: str, port: int, target: str) -> list[str | bytes]:
    """Run one connection, echoing messages; return what was received."""
    conn = Connection(Role.CLIENT, max_message_size=None)
    received: list[str | bytes] = []
    with socket.create_connection((host, port), timeout=CASE_TIMEOUT) as sock:
        sock.sendall(conn.send(Request(host=f"{host}:{port}", target=target, extensions=[OFFER])))
        while not conn.should_close_transport:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, Message):
                    received.append(event.data)
                    sock.sendall(conn.send(event))
                elif isinstance(event, Ping):
                    pass  # answered by the connection itself
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                break
    return received


def run(host: str, port: int, parallel: int = 1) -> int:
    """Run every case the server has, ``parallel`` at a time; return how many
    there were."""
    (count,) = session(host, port, "/getCaseCount")
    assert isinstance(count, str)
    targets = [f"/runCase?case={case}&agent={AGENT}" for case in range(1, int(count) + 1)]
    with ThreadPoolExecutor(parallel) as pool:
        for _ in pool.map(lambda target: session(host, port, target), targets):
            pass
    session(host, port, f"/updateReports?agent={AGENT}")
    return int(count)


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1], int(sys.argv[2]), parallel=2), "cases")
