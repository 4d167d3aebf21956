"""The side-by-side benchmark checks every run's result (issue: a benchmark
that cannot flatter us): a library whose output is wrong stops the run
instead of getting a rate.  Speed itself is never asserted."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from benchmarks import run
from benchmarks.drivers import Lite, WebSockets, WebSocketsPy, WsProto

from wsproto_lite import Connection
from wsproto_lite.events import Message


class DropsOne(Lite):
    """A wsproto_lite driver that loses the last message it receives."""

    def receive(self, conn: Connection, chunks: Iterable[bytes]) -> tuple[int, int]:
        count, size = super().receive(conn, chunks)
        return count - 1, size - 16


class SendsWrong(Lite):
    """A wsproto_lite driver whose sends lose a byte of the last message."""

    def send(self, conn: Connection, messages: list[str] | list[bytes]) -> list[bytes]:
        out = super().send(conn, messages)
        return [*out[:-1], conn.send(Message("x" * 15))]


@pytest.mark.parametrize(
    ("driver", "only"),
    [(DropsOne(), "server receives 16 B text"), (SendsWrong(), "server sends 16 B text")],
)
def test_a_wrong_result_stops_the_benchmark(monkeypatch: pytest.MonkeyPatch, driver: Lite, only: str) -> None:
    monkeypatch.setattr(run, "DRIVERS", [driver, WsProto(), WebSockets(), WebSocketsPy()])
    with pytest.raises(SystemExit, match="wsproto_lite got a wrong result"):
        run.measure(1, quick=True, only=only)


def test_every_workload_passes_its_check_for_every_library() -> None:
    result = run.measure(1, quick=True, only="")
    names = [load.name for load in result["loads"]]
    assert "client sends 256 B text" in names
    assert "4 MiB text in 48-80 B fragments" in names
    assert all(len(ratios) == 1 for ratios in result["spread"].values())
    table = run.table(result)
    assert "| server receives 16 B text | msg/s |" in table
    assert "| opening handshake | handshakes/s |" in table


def test_the_json_messages_are_one_kibibyte_of_valid_json() -> None:
    for i in (0, 7, 99_999):
        text = run.json_message(i)
        assert len(text.encode()) == 1024
        assert json.loads(text)["seq"] == i
