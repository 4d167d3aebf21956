"""Every public name says, in its docstring, what it does, what each of its
parameters means and what it raises: the reference on the documentation
site is generated from these docstrings (docs/reference/)."""

from __future__ import annotations

import contextlib
import enum
import importlib
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, is_typeddict

import pytest
from sphinx.pycode import ModuleAnalyzer

from wsproto_lite import (
    Connection,
    ConnectionClosedError,
    InvalidEventError,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    accept_token,
    extended_connect,
)
from wsproto_lite.events import Accept, Close, Message, Ping, Pong, Reject, RejectData, Request
from wsproto_lite.extensions import PerMessageDeflate, finalize

from .helpers import pair

#: The modules whose public names the reference documents.
PUBLIC_MODULES = (
    "wsproto_lite",
    "wsproto_lite.events",
    "wsproto_lite.errors",
    "wsproto_lite.extensions",
    "wsproto_lite.extended_connect",
    "wsproto_lite.uvicorn",
)


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module_name
        ]
    return sorted(names)


def members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods and properties of ``cls``, its own and those of
    the library's private base classes (``Connection`` inherits its receive
    half), not those of Python's classes."""
    seen: set[str] = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("wsproto_lite"):
            continue
        for name, value in vars(base).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)):
                yield name, value.__func__
            elif isinstance(value, property) or inspect.isfunction(value):
                yield name, value


def is_data(value: Any) -> bool:
    """A constant or a type alias: documented by the ``#:`` comment above
    its assignment, which autodoc reads."""
    kinds = (inspect.ismodule, inspect.isclass, inspect.isroutine)
    return not isinstance(value, property) and not any(kind(value) for kind in kinds)


def documented() -> Iterator[tuple[str, Any]]:
    """(qualified name, object) for every public name and member, each
    object once, under the first module that exports it."""
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in public_names(module_name):
            value = getattr(module, name)
            if not is_data(value) and id(value) in seen:
                continue
            seen.add(id(value))
            yield f"{module_name}.{name}", value
            if inspect.isclass(value) and value.__module__.startswith("wsproto_lite"):
                for member, attribute in members(value):
                    yield f"{module_name}.{name}.{member}", attribute


def own_doc(value: Any) -> str:
    """The docstring written for ``value`` itself: not inherited, and not
    the signature a dataclass puts there when none was written."""
    if inspect.isclass(value):
        doc = vars(value).get("__doc__")
        if doc and doc.startswith(value.__name__ + "("):
            return ""  # the dataclass's generated text
    else:
        doc = value.__doc__
    return textwrap.dedent(doc or "")


def attribute_docs(module_name: str) -> dict[str, str]:
    """The ``#:`` comments of a module's assignments, by name."""
    found = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    return {name: "\n".join(lines) for (scope, name), lines in found.items() if not scope}


def parameters(value: Any) -> list[str]:
    """The parameters a caller passes, by name (an enumeration is not
    called: its members are its documentation)."""
    if inspect.isclass(value) and (
        issubclass(value, enum.Enum)
        or is_typeddict(value)  # its keys are documented as the constructor's
        or "__init__" not in vars(value)  # an exception without parameters of its own
    ):
        return []
    signature = inspect.signature(value)
    return [name for name in signature.parameters if name not in ("self", "cls")]


ALL = sorted(documented(), key=lambda item: item[0])
DATA = [(name, value) for name, value in ALL if is_data(value)]
CODE = [(name, value) for name, value in ALL if not is_data(value)]


@pytest.mark.parametrize(("name", "value"), CODE, ids=[name for name, _ in CODE])
def test_public_name_has_a_docstring(name: str, value: Any) -> None:
    assert own_doc(value).strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name", [name for name, _ in DATA])
def test_public_constant_or_alias_has_a_comment(name: str) -> None:
    module_name, _, attribute = name.rpartition(".")
    assert attribute_docs(module_name).get(attribute, "").strip(), (
        f"{name} has no '#:' comment above its assignment"
    )


def test_every_member_of_a_public_enumeration_has_a_comment() -> None:
    """``Role.CLIENT``, ``ConnectionState.OPEN``...: autodoc shows each
    member with the ``#:`` comment above it."""
    undocumented = []
    for name, value in CODE:
        if inspect.isclass(value) and issubclass(value, enum.Enum):
            found = ModuleAnalyzer.for_module(value.__module__).find_attr_docs()
            undocumented += [
                f"{name}.{member}" for member in value.__members__ if not found.get((value.__name__, member))
            ]
    assert not undocumented, f"no '#:' comment above {undocumented}"


CALLABLES = [
    (name, value) for name, value in CODE if not inspect.ismodule(value) and not isinstance(value, property)
]


@pytest.mark.parametrize(("name", "value"), CALLABLES, ids=[name for name, _ in CALLABLES])
def test_every_parameter_is_described(name: str, value: Any) -> None:
    doc = own_doc(value)
    missing = [p for p in parameters(value) if not re.search(rf":param {p}:", doc)]
    assert not missing, f"{name}: the docstring has no ':param NAME:' for {missing}"


def test_what_raises_says_so() -> None:
    """A public function or method whose own code raises names what it
    raises (``:raises Name:``)."""
    silent = []
    for name, value in CALLABLES:
        if inspect.isclass(value):
            functions = [vars(value)[name] for name in ("__init__", "__post_init__") if name in vars(value)]
        else:
            functions = [value]
        sources = []
        for function in functions:
            with contextlib.suppress(OSError, TypeError):  # a dataclass's generated code has none
                sources.append(inspect.getsource(function))
        raises = any(re.search(r"^\s+raise \w", source, re.MULTILINE) for source in sources)
        if raises and ":raises " not in own_doc(value):
            silent.append(name)
    assert not silent, f"these raise, and their docstrings say nothing of it: {silent}"


def raised(call: Callable[[], object]) -> type[BaseException] | None:
    try:
        call()
    except Exception as error:
        return type(error)
    return None


def closed_server() -> Connection:
    _, server = pair()
    server.send(Close())
    return server


#: Public callables made to raise, each with what its docstring says it
#: raises: the error must be raised, and named in a ``:raises:`` field.
RAISING: list[tuple[str, Callable[[], object], Callable[[], object], type[Exception]]] = [
    ("Connection", lambda: Connection, lambda: Connection(Role.SERVER, ping_interval=0), ValueError),
    (
        "Connection.opened",
        lambda: Connection.opened,
        lambda: Connection.opened(Role.SERVER, extensions=["x"]),  # type: ignore[list-item]
        LocalProtocolError,
    ),
    (
        "Connection.receive_request",
        lambda: Connection.receive_request,
        lambda: Connection(Role.CLIENT).receive_request("GET", "/", []),
        LocalProtocolError,
    ),
    (
        "Connection.receive_request",
        lambda: Connection.receive_request,
        lambda: Connection(Role.SERVER).receive_request("POST", "/", []),
        RemoteProtocolError,
    ),
    (
        "Connection.receive_data",
        lambda: Connection.receive_data,
        lambda: Connection(Role.SERVER).receive_data(b"not http\r\n\r\n"),
        RemoteProtocolError,
    ),
    (
        "Connection.receive_data",
        lambda: Connection.receive_data,
        lambda: Connection(Role.CLIENT).receive_data(b"HTTP/1.1 101"),
        LocalProtocolError,
    ),
    ("Connection.send", lambda: Connection.send, lambda: pair()[1].send(Close(999)), InvalidEventError),
    (
        "Connection.send",
        lambda: Connection.send,
        lambda: closed_server().send(Message("x")),
        ConnectionClosedError,
    ),
    (
        "Connection.send",
        lambda: Connection.send,
        lambda: Connection(Role.SERVER).send(Message("x")),
        LocalProtocolError,
    ),
    ("Message", lambda: Message, lambda: Message(1), InvalidEventError),  # type: ignore[arg-type]
    ("Ping", lambda: Ping, lambda: Ping(1), InvalidEventError),  # type: ignore[arg-type]
    ("Pong", lambda: Pong, lambda: Pong(1), InvalidEventError),  # type: ignore[arg-type]
    ("RejectData", lambda: RejectData, lambda: RejectData(1), InvalidEventError),  # type: ignore[arg-type]
    ("accept_token", lambda: accept_token, lambda: accept_token("\u20ac"), UnicodeEncodeError),
    ("PerMessageDeflate", lambda: PerMessageDeflate, lambda: PerMessageDeflate(mem_level=0), ValueError),
    ("finalize", lambda: finalize, lambda: finalize("x-unknown", []), RemoteProtocolError),
    (
        "PerMessageDeflate.finalize",
        lambda: PerMessageDeflate.finalize,
        lambda: PerMessageDeflate(client_max_window_bits=9).finalize([("client_max_window_bits", "10")]),
        RemoteProtocolError,
    ),
    (
        "extended_connect.request_headers",
        lambda: extended_connect.request_headers,
        lambda: extended_connect.request_headers(Request("h", "no-slash")),
        InvalidEventError,
    ),
    (
        "extended_connect.parse_request",
        lambda: extended_connect.parse_request,
        lambda: extended_connect.parse_request([(b":method", b"GET")]),
        RemoteProtocolError,
    ),
    (
        "extended_connect.accept",
        lambda: extended_connect.accept,
        lambda: extended_connect.accept(Request("h", "/"), Accept(subprotocol="chat")),
        InvalidEventError,
    ),
    (
        "extended_connect.reject",
        lambda: extended_connect.reject,
        lambda: extended_connect.reject(Reject(200)),
        InvalidEventError,
    ),
    (
        "extended_connect.parse_response",
        lambda: extended_connect.parse_response,
        lambda: extended_connect.parse_response(Request("h", "/"), 200, [(b"sec-websocket-protocol", b"x")]),
        RemoteProtocolError,
    ),
]


@pytest.mark.parametrize(
    ("name", "documented", "call", "error"), RAISING, ids=[f"{row[0]}-{row[3].__name__}" for row in RAISING]
)
def test_what_is_raised_is_documented(
    name: str, documented: Callable[[], object], call: Callable[[], object], error: type[Exception]
) -> None:
    assert raised(call) is error, f"{name} did not raise {error.__name__}"
    assert f":raises {error.__name__}:" in own_doc(documented()), f"{name} does not document {error.__name__}"
