"""A pytest plugin that runs uvicorn's own WebSocket tests against
wsproto_lite's protocol class: the ``ws_protocol_cls`` fixture of uvicorn's
conftest is parametrized with it instead of uvicorn's built-in classes.
Load it with ``-p wsproto_lite_uvicorn_plugin``, its folder on the path."""

from __future__ import annotations

import pytest

from wsproto_lite.uvicorn import WebSocketProtocol


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ws_protocol_cls" in metafunc.fixturenames:
        metafunc.parametrize("ws_protocol_cls", [WebSocketProtocol], ids=["wsproto_lite"])
