"""WebSockets over HTTP/2 and HTTP/3: the extended CONNECT handshake of
RFC 8441 (sections 4 and 5) and RFC 9220, as header lists, for both roles.

Over HTTP/2 and HTTP/3 a WebSocket is one stream of a connection the host
already has.  The client opens the stream with a CONNECT request that
carries the ``:protocol`` pseudo-header (``websocket``); the server answers
``200`` to accept, or any other final status to refuse; from then on the
stream's data are the WebSocket frames of RFC 6455, and
:class:`~wsproto_lite.Connection` (made open by :func:`accept` and
:func:`parse_response`) reads and writes them as over TCP.

These functions do the handshake and nothing of HTTP/2 or HTTP/3 framing,
which stays in the host's library (h2, aioquic).  Headers go in and come
out as lists of ``(name, value)`` pairs of ``bytes``, names in lower case,
pseudo-headers first, as those libraries take and give them (``str`` is
accepted on the way in, as Latin-1).  What differs from HTTP/1.1 (RFC 8441,
section 5): no ``Sec-WebSocket-Key`` and no accept token, no ``Upgrade`` or
``Connection`` headers (HTTP/2 forbids connection-specific headers), the
host in ``:authority``, success is ``200`` rather than ``101``.  What the
host must do besides (send ``SETTINGS_ENABLE_CONNECT_PROTOCOL``, map the
end of the stream) is in docs/howto/http2.md.

A wrong ``Sec-WebSocket-Version`` is refused with ``400`` and
``sec-websocket-version: 13``, not HTTP/1.1's ``426``: a 426 must carry an
``Upgrade`` header (RFC 9110, 15.5.22), which HTTP/2 and HTTP/3 forbid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Unpack, cast

from ._headers import HEADER_NAME, TOKEN, encode_headers, latin1, split_comma_header, subprotocol_names
from .connection import Connection, Options, Role
from .errors import InvalidEventError, RemoteProtocolError
from .events import Accept, Header, Reject, Request
from .extensions import Extension, finalize, negotiate, offer

__all__ = [
    "AcceptOptions",
    "Headers",
    "accept",
    "parse_request",
    "parse_response",
    "reject",
    "request_headers",
]

#: Headers as this module returns them: ``bytes`` pairs, names in lower case.
Headers = list[tuple[bytes, bytes]]

#: Headers that may not be sent on HTTP/2 or HTTP/3 (RFC 9113, 8.2.2; RFC
#: 9114, 4.2): they are about one TCP connection.
_CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te")
)


def _connection_specific(name: bytes, value: bytes) -> bool:
    """Whether a header may not appear on HTTP/2 or HTTP/3; ``te: trailers``
    is the one exception (RFC 9113, 8.2.2)."""
    return name in _CONNECTION_SPECIFIC and not (name == b"te" and value == b"trailers")


#: The headers the handshake writes from the events' fields.
_OWN = frozenset(
    (b"sec-websocket-version", b"sec-websocket-protocol", b"sec-websocket-extensions", b"origin")
)
#: What a request that is not for us is told to use instead.
_VERSION = [(b"sec-websocket-version", b"13")]


class AcceptOptions(Options, total=False):
    """:func:`accept`'s keywords: the constructor's, ``extensions`` included."""

    extensions: Sequence[Extension]


def _extra(headers: Iterable[Header], what: str) -> Headers:
    """A caller's extra headers, in lower case, refusing what HTTP/2 forbids
    and what the handshake writes itself."""
    out = []
    for name, value in encode_headers(headers):
        name = name.lower()
        if name.startswith(b":") or _connection_specific(name, value) or name in _OWN or name == b"host":
            raise InvalidEventError(
                f"cannot send {name.decode('latin-1')!r} in {what} over HTTP/2 or HTTP/3: pseudo-headers "
                "and connection-specific headers are the host's, and the handshake writes its own"
            )
        if not HEADER_NAME.fullmatch(name) or b"\r" in value or b"\n" in value or b"\0" in value:
            raise InvalidEventError(
                f"cannot send invalid header {name!r}: {value!r}; "
                "names are tokens, values have no CR, LF or NUL"
            )
        out.append((name, value))
    return out


def request_headers(request: Request, *, scheme: str = "https") -> Headers:
    """Client: the headers of the extended CONNECT request for ``request``
    (RFC 8441, 4 and 5): ``:method``, ``:protocol``, ``:scheme``
    (``"https"`` or ``"http"``, the scheme of the target: ``wss`` or
    ``ws``), ``:authority`` (the request's host) and ``:path`` (its
    target), then the version, the subprotocols and extensions offered,
    the origin and the extra headers.

    :param request: what to ask for, as on HTTP/1.1.
    :param scheme: ``"https"`` or ``"http"``: the scheme of the target,
        ``wss`` or ``ws``.
    :raises InvalidEventError: for a request that cannot be sent.
    """
    if scheme not in ("https", "http"):
        raise InvalidEventError(f"the scheme of a WebSocket over HTTP/2 is 'https' or 'http', not {scheme!r}")
    authority = latin1(request.host, "host")
    path = latin1(request.target, "target")
    if not authority or not path.startswith(b"/") or any(c in path + authority for c in b" \r\n\0"):
        raise InvalidEventError(
            f"cannot send this Request: host {request.host!r} and a target starting with '/' are needed"
        )
    headers = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", scheme.encode("ascii")),
        (b":authority", authority),
        (b":path", path),
        (b"sec-websocket-version", b"13"),
    ]
    if request.subprotocols:
        headers.append((b"sec-websocket-protocol", subprotocol_names(request.subprotocols)))
    for ext in request.extensions:
        if not isinstance(ext, Extension):
            raise InvalidEventError(f"a client offers extensions as Extension objects, not {ext!r}")
    offered = offer([ext for ext in request.extensions if isinstance(ext, Extension)])
    if offered is not None:
        headers.append((b"sec-websocket-extensions", offered.encode("latin-1")))
    if request.origin is not None:
        origin = latin1(request.origin, "origin")
        if any(c in origin for c in b"\r\n\0"):
            raise InvalidEventError(f"cannot send origin {request.origin!r}: it has CR, LF or NUL")
        headers.append((b"origin", origin))
    return headers + _extra(request.extra_headers, "a Request's extra_headers")


def _received(headers: Iterable[tuple[bytes | str, bytes | str]]) -> tuple[dict[bytes, bytes], Headers]:
    """The pseudo-headers and the other headers of a received header list,
    checked as HTTP/2 requires of them (RFC 9113, 8.2 and 8.3)."""
    pseudo: dict[bytes, bytes] = {}
    regular: Headers = []
    for name, value in headers:
        name = name.encode("latin-1") if isinstance(name, str) else bytes(name)
        value = value.encode("latin-1") if isinstance(value, str) else bytes(value)
        if name != name.lower():
            raise RemoteProtocolError(f"header name {name!r} is not in lower case", status_code=400)
        if name.startswith(b":"):
            if regular or name in pseudo:
                raise RemoteProtocolError(f"pseudo-header {name!r} after a header, or twice", status_code=400)
            pseudo[name] = value
        elif _connection_specific(name, value):
            raise RemoteProtocolError(f"connection-specific header {name!r} on a stream", status_code=400)
        else:
            regular.append((name, value))
    return pseudo, regular


def _values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def _tokens(headers: Headers, name: bytes) -> tuple[str, ...]:
    return tuple(
        [item for value in _values(headers, name) for item in split_comma_header(value.decode("latin-1"))]
    )


def parse_request(headers: Iterable[tuple[bytes | str, bytes | str]]) -> Request:
    """Server: the :class:`~wsproto_lite.events.Request` of a received
    extended CONNECT (RFC 8441, 4 and 5), its headers checked.

    Raises :class:`~wsproto_lite.RemoteProtocolError` for a request that is
    not a valid WebSocket handshake, with the ``status_code`` and
    ``headers`` to answer with (send them with :func:`reject`): 405 for a
    method other than CONNECT, 400 for a missing or wrong pseudo-header or
    a malformed header list, 400 with ``sec-websocket-version: 13`` for
    another version (see the module's docstring).

    :param headers: the request's header list, pseudo-headers first, as the
        host's library gives it (``str`` is read as Latin-1).
    :raises RemoteProtocolError: for a request that is not a valid
        WebSocket handshake (see above).
    """
    pseudo, regular = _received(headers)
    method = pseudo.get(b":method")
    if method != b"CONNECT":
        raise RemoteProtocolError(
            f"a WebSocket over HTTP/2 or HTTP/3 is opened with CONNECT, not {method!r}",
            status_code=405,
            headers=[(b"allow", b"CONNECT")],
        )
    if pseudo.get(b":protocol") != b"websocket":
        raise RemoteProtocolError(
            "an extended CONNECT for a WebSocket has ':protocol: websocket'", status_code=400
        )
    missing = [name for name in (b":scheme", b":authority", b":path") if not pseudo.get(name)]
    if missing or set(pseudo) - {b":method", b":protocol", b":scheme", b":authority", b":path"}:
        raise RemoteProtocolError(
            "an extended CONNECT has :scheme, :authority and :path and no other pseudo-header (RFC 8441, 4)",
            status_code=400,
        )
    if _values(regular, b"sec-websocket-version") != [b"13"]:
        raise RemoteProtocolError(
            "unsupported Sec-WebSocket-Version; this server speaks 13", status_code=400, headers=_VERSION
        )
    origin = _values(regular, b"origin")
    return Request(
        pseudo[b":authority"].decode("latin-1"),
        pseudo[b":path"].decode("latin-1"),
        # Names that are not tokens (RFC 6455, 4.1 item 10) cannot be chosen: not reported.
        subprotocols=tuple(
            [name for name in _tokens(regular, b"sec-websocket-protocol") if TOKEN.fullmatch(name)]
        ),
        extensions=_tokens(regular, b"sec-websocket-extensions"),
        extra_headers=tuple([(k, v) for k, v in regular if k not in _OWN and k != b"sec-websocket-key"]),
        origin=origin[0].decode("latin-1") if origin else None,
        headers=tuple(list(pseudo.items()) + regular),
    )


def accept(request: Request, accept: Accept, **options: Unpack[AcceptOptions]) -> tuple[Headers, Connection]:
    """Server: the ``:status 200`` answer to ``request`` (from
    :func:`parse_request`) and the open server :class:`Connection` that
    reads and writes the stream's data.

    :param request: the request, from :func:`parse_request`.
    :param accept: the answer: its subprotocol, extensions and extra
        headers, as on HTTP/1.1.
    :param options: the constructor's keywords (limits, timeouts...), and
        ``extensions=``: the extensions to accept when ``accept`` names none.
    :raises InvalidEventError: for a subprotocol the client did not offer,
        or headers that cannot be sent.
    """
    supported = options.get("extensions", ())
    rest = cast(Options, {key: value for key, value in options.items() if key != "extensions"})
    headers: Headers = [(b":status", b"200")]
    if accept.subprotocol is not None:
        if accept.subprotocol not in request.subprotocols:
            raise InvalidEventError(
                f"subprotocol {accept.subprotocol!r} was not offered by the client; "
                f"choose one of {list(request.subprotocols)} or None"
            )
        headers.append((b"sec-websocket-protocol", accept.subprotocol.encode("latin-1")))
    for ext in accept.extensions:
        if not isinstance(ext, Extension):
            raise InvalidEventError(f"Accept(extensions=...) takes Extension objects, not {ext!r}")
    offers = [ext for ext in request.extensions if isinstance(ext, str)]
    answer, sessions = negotiate(offers, accept.extensions or tuple(supported))
    if answer is not None:
        headers.append((b"sec-websocket-extensions", answer.encode("latin-1")))
    headers += _extra(accept.extra_headers, "an Accept's extra_headers")
    conn = Connection.opened(Role.SERVER, subprotocol=accept.subprotocol, extensions=sessions, **rest)
    return headers, conn


def reject(reject: Reject) -> Headers:
    """Server: the response headers that refuse the handshake (``:status``
    first).  The status is a final one that is not a success, 300 to 599:
    any 2xx answer to an extended CONNECT opens the tunnel.  With
    ``has_body=False`` the host ends the stream with these headers; with a
    body, it sends the body as the stream's data, then ends it.

    :param reject: the refusal: its status and headers.
    :raises InvalidEventError: for a status outside 300-599, or a pseudo-
        or connection-specific header among its headers.
    """
    status = reject.status_code
    if not (isinstance(status, int) and 300 <= status <= 599):
        raise InvalidEventError(
            f"a Reject over HTTP/2 or HTTP/3 has a status from 300 to 599, not {status!r}: "
            "a 2xx answer to an extended CONNECT accepts it (send Accept)"
        )
    headers: Headers = [(b":status", str(status).encode("ascii"))]
    for name, value in encode_headers(reject.headers):
        name = name.lower()
        if name.startswith(b":") or _connection_specific(name, value):
            raise InvalidEventError(f"cannot send {name!r} in a Reject over HTTP/2 or HTTP/3")
        headers.append((name, value))
    return headers


def parse_response(
    request: Request,
    status: int,
    headers: Iterable[tuple[bytes | str, bytes | str]],
    **options: Unpack[Options],
) -> Connection | Reject:
    """Client: the server's answer to ``request``'s extended CONNECT.

    A 2xx status accepts it: the open client :class:`Connection` is
    returned (``options`` are the constructor's).  Any other status refuses
    it: a :class:`~wsproto_lite.events.Reject` with the status and headers
    is returned (``has_body`` unless ``content-length: 0``; the body, if
    any, is the stream's data, which the host reads).

    :param request: the request whose headers :func:`request_headers` made.
    :param status: the answer's ``:status``, as an ``int``.
    :param headers: the answer's header list, with or without ``:status``.
    :param options: the constructor's keywords (limits, timeouts...).
    :raises RemoteProtocolError: for an answer that picks a subprotocol or
        an extension the client did not offer (code 1010 for extensions),
        or a malformed header list.
    """
    _, regular = _received([(k, v) for k, v in headers if k not in (":status", b":status")])
    if not 200 <= status <= 299:
        has_body = _values(regular, b"content-length") != [b"0"]
        return Reject(status, headers=tuple(regular), has_body=has_body)
    chosen = _values(regular, b"sec-websocket-protocol")
    subprotocol = chosen[0].decode("latin-1") if chosen else None
    if len(chosen) > 1 or (subprotocol is not None and subprotocol not in request.subprotocols):
        raise RemoteProtocolError(f"the server chose subprotocol {chosen!r}, which was not offered")
    offered = [ext for ext in request.extensions if isinstance(ext, Extension)]
    sessions = finalize(_values(regular, b"sec-websocket-extensions"), offered)
    return Connection.opened(Role.CLIENT, subprotocol=subprotocol, extensions=sessions, **options)
