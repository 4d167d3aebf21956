"""The opening handshake of RFC 6455, section 4, over h11.

:class:`ServerHandshake` and :class:`ClientHandshake` turn bytes into
:mod:`~wsproto_lite.events` and back until the connection is switched to
WebSocket; they know nothing of frames.  The :class:`~wsproto_lite.Connection`
drives them while its state is ``CONNECTING`` or ``REJECTING``.
"""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Iterable, Sequence

import h11

from ._headers import (
    HANDSHAKE_HEADERS,
    TOKEN,
    accept_token,
    encode_headers,
    extra_lines,
    has_token,
    header_line,
    index_headers,
    latin1,
    parse_extension,
    subprotocol_names,
    tokens,
)
from .errors import InvalidEventError, RemoteProtocolError
from .events import Accept, Event, Header, Reject, RejectData, Request
from .extensions import Extension, ExtensionSession, finalize, negotiate, offer

_UPGRADE_REQUIRED: tuple[Header, ...] = (
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Version", b"13"),
)


#: A request target as RFC 9112 allows it: visible ASCII, no spaces.
_TARGET = re.compile(rb"[\x21-\x7e]+")

#: What the client's h11 connection is told it sent (see send_request):
#: h11 needs the Host of HTTP/1.1 and, to expect a 101, the Upgrade header.
_PRIMER = h11.Request(method=b"GET", target=b"/", headers=[(b"Host", b"x"), (b"Upgrade", b"websocket")])


def _wrap(error: h11.ProtocolError) -> RemoteProtocolError:
    status = error.error_status_hint
    return RemoteProtocolError(f"invalid HTTP handshake: {error}", status_code=status)


def _head_too_large(max_size: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"the HTTP head is larger than the limit of {max_size} bytes", status_code=431)


#: The request headers that decide how h11 frames the response.
_FRAMING = (b"connection", b"content-length", b"transfer-encoding")

#: Statuses whose responses never have a body (RFC 9110, 6.4.1).
_NO_BODY = (204, 304)


class ServerHandshake:
    """The server side: receive a request, answer it."""

    def __init__(self, max_size: int) -> None:
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_size)
        self._max_size = max_size
        self._received = 0  # bytes fed to h11, for the size of a head that came whole
        self._key = b""
        self._method = b""
        self._body_left: int | None = None  # what a rejection's body may still carry
        self.request: Request | None = None
        self.failed = False
        self.trailing = b""

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse the request; raise ``RemoteProtocolError`` with the status
        and headers to answer with when it is not a valid WebSocket request."""
        self._h11.receive_data(data)
        self._received += len(data)
        try:
            event = self._h11.next_event()
            if isinstance(event, h11.Request):
                # A request without a body ends with its head: what follows
                # is already WebSocket data.  h11 bounds only a head that is
                # still incomplete; one that came whole is measured here.
                self.trailing = bytes(self._h11.trailing_data[0])
                if self._received - len(self.trailing) > self._max_size:
                    raise _head_too_large(self._max_size)
                self._method = event.method
                self._check(event)
                assert self.request is not None
                return [self.request]
            return []  # NEED_DATA: the head is not complete yet
        except h11.RemoteProtocolError as error:
            self.failed = True
            raise _wrap(error) from None
        except RemoteProtocolError:
            self.failed = True
            raise

    def receive_request(
        self, method: bytes | str, target: bytes | str, headers: Iterable[Header], http_version: bytes | str
    ) -> list[Event]:
        """The same as receive_data() for a request another HTTP parser read:
        h11 validates it as it would have parsed it, and learns that a
        request with this method and version came (it frames a rejection
        from them), then the checks of section 4.2.1 run."""
        try:
            try:
                # Text that latin1() refuses raises a ValueError (InvalidEventError).
                request = h11.Request(
                    method=latin1(method, "method"),
                    target=latin1(target, "target"),
                    headers=[
                        (latin1(name, "header name"), latin1(value, "header value"))
                        for name, value in headers
                    ],
                    http_version=latin1(http_version, "HTTP version"),
                )
            except (h11.LocalProtocolError, ValueError, TypeError) as error:
                raise RemoteProtocolError(f"invalid HTTP handshake: {error}", status_code=400) from None
            size = (
                len(request.method)
                + len(request.target)
                + sum(len(n) + len(v) + 4 for n, v in request.headers)
            )
            if size > self._max_size:
                raise _head_too_large(self._max_size)
            # h11 frames a rejection from the request's method, version and
            # these headers: it is told them, and nothing else.
            primer = [b"%s / HTTP/%s\r\nHost: x\r\n" % (request.method, request.http_version)]
            primer += [b"%s: %s\r\n" % (n, v) for n, v in request.headers if n in _FRAMING]
            try:
                self._h11.receive_data(b"".join(primer) + b"\r\n")
                self._h11.next_event()
            except h11.RemoteProtocolError as error:
                raise _wrap(error) from None
            self._method = request.method
            self._check(request)
        except RemoteProtocolError:
            self.failed = True
            raise
        assert self.request is not None
        return [self.request]

    def _check(self, request: h11.Request) -> None:
        """The checks of section 4.2.1, each with the status to answer."""
        headers, fields = index_headers(request.headers)
        if request.method != b"GET":
            raise RemoteProtocolError(
                "a WebSocket handshake must use GET", status_code=405, headers=[(b"Allow", b"GET")]
            )
        if request.http_version != b"1.1":
            raise RemoteProtocolError("a WebSocket handshake needs HTTP/1.1", status_code=400)
        if fields.get(b"content-length", [b"0"]) != [b"0"] or b"transfer-encoding" in fields:
            raise RemoteProtocolError("a WebSocket request has no body", status_code=400)
        if not has_token(fields, b"upgrade", b"websocket"):
            raise RemoteProtocolError(
                "missing 'Upgrade: websocket'", status_code=426, headers=_UPGRADE_REQUIRED
            )
        if not has_token(fields, b"connection", b"upgrade"):
            raise RemoteProtocolError("missing 'Connection: Upgrade'", status_code=400)
        if fields.get(b"sec-websocket-version") != [b"13"]:
            raise RemoteProtocolError(
                "unsupported Sec-WebSocket-Version; this server speaks 13",
                status_code=426,
                headers=_UPGRADE_REQUIRED,
            )
        keys = fields.get(b"sec-websocket-key", [])
        try:
            valid_key = len(keys) == 1 and len(binascii.a2b_base64(keys[0], strict_mode=True)) == 16
        except binascii.Error:
            valid_key = False
        if not valid_key:
            raise RemoteProtocolError("invalid Sec-WebSocket-Key", status_code=400)
        self._key = keys[0]
        origin = fields.get(b"origin")
        self.request = Request(
            fields[b"host"][0].decode("latin-1"),
            request.target.decode("latin-1"),
            # Names that are not tokens (RFC 6455, 4.1 item 10) cannot be chosen: not reported.
            subprotocols=tuple(
                [name for name in tokens(fields, b"sec-websocket-protocol") if TOKEN.fullmatch(name)]
            ),
            extensions=tokens(fields, b"sec-websocket-extensions"),
            extra_headers=tuple([(k, v) for k, v in headers if k not in HANDSHAKE_HEADERS]),
            origin=origin[0].decode("latin-1") if origin else None,
            headers=headers,
        )

    def accept(self, event: Accept, supported: Sequence[Extension]) -> tuple[bytes, list[ExtensionSession]]:
        """The 101 response (4.2.2), and the sessions of the accepted extensions.

        The response is written here rather than by h11: it has a fixed
        form, and the caller's extra headers are checked as h11 would.
        Everything is checked before anything is returned, so a refused
        Accept changes nothing.
        """
        request = self.request
        # The connection's state machine lets Accept through only after a valid request.
        assert request is not None
        lines = [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_token(self._key) + b"\r\n"
        ]
        if event.subprotocol is not None:
            if event.subprotocol not in request.subprotocols:
                raise InvalidEventError(
                    f"subprotocol {event.subprotocol!r} was not offered by the client; "
                    f"choose one of {list(request.subprotocols)} or None"
                )
            # One the client offered: a token, since only tokens are reported.
            lines.append(header_line(b"Sec-WebSocket-Protocol", latin1(event.subprotocol, "subprotocol")))
        for ext in event.extensions:
            if not isinstance(ext, Extension):
                raise InvalidEventError(
                    f"Accept(extensions=...) takes Extension objects such as PerMessageDeflate(), "
                    f"not {ext!r}; the Request's extensions are the client's offers as header text"
                )
        answer, sessions = negotiate(
            [ext for ext in request.extensions if isinstance(ext, str)], event.extensions or supported
        )
        if answer is not None:
            lines.append(b"Sec-WebSocket-Extensions: " + answer.encode("latin-1") + b"\r\n")
        if event.extra_headers:
            lines.extend(extra_lines(event.extra_headers))
        lines.append(b"\r\n")
        return b"".join(lines), sessions

    def reject(self, event: Reject) -> bytes:
        """An HTTP response that refuses the handshake (the connection's
        state machine lets only one response through).  Whatever h11 would
        refuse is refused here first, so that its state is never spoiled."""
        status = event.status_code
        if not (isinstance(status, int) and 200 <= status <= 599 and status != 101):
            raise InvalidEventError(
                f"a Reject needs a final status from 200 to 599 (RFC 9110, 15), not {status!r}; "
                "to accept the handshake send Accept"
            )
        headers = encode_headers(event.headers)
        names = {name.lower() for name, _ in headers}
        if b"connection" not in names:
            headers.append((b"Connection", b"close"))
        if not event.has_body and b"content-length" not in names and b"transfer-encoding" not in names:
            headers.append((b"Content-Length", b"0"))
        try:
            response = h11.Response(status_code=status, headers=headers)
        except h11.LocalProtocolError as error:
            raise InvalidEventError(f"cannot send this Reject: {error}") from None
        length = _content_length(response.headers)
        if status in _NO_BODY or self._method == b"HEAD":
            length = 0  # h11 sends no body, whatever the headers say
        if not event.has_body and length:
            raise InvalidEventError(
                f"a Reject with has_body=False cannot declare Content-Length: {length}; "
                "pass has_body=True and send the body as RejectData"
            )
        data = self._h11.send(response) or b""
        self._body_left = length
        if not event.has_body:
            data += self._h11.send(h11.EndOfMessage()) or b""
        return data

    def reject_data(self, event: RejectData) -> bytes:
        """A piece of the rejection's body, checked against its length."""
        if not isinstance(event.data, bytes):
            raise InvalidEventError(f"RejectData carries bytes, not {type(event.data).__name__}")
        left = self._body_left
        if left is not None:
            if len(event.data) > left or (event.body_finished and len(event.data) < left):
                raise InvalidEventError(
                    f"cannot send this body: {left} bytes are left of its Content-Length "
                    f"and this RejectData carries {len(event.data)}"
                    + (" and finishes it" if event.body_finished else "")
                )
            self._body_left = left - len(event.data)
        data = b""
        if event.data:
            data = self._h11.send(h11.Data(data=event.data)) or b""
        if event.body_finished:
            data += self._h11.send(h11.EndOfMessage()) or b""
        return data


def _content_length(headers: h11._headers.Headers) -> int | None:
    """The Content-Length that h11 validated, or None for a body it frames."""
    for name, value in headers:
        if name == b"content-length":
            return int(value)
    return None


class ClientHandshake:
    """The client side: send a request, check the response."""

    def __init__(self, max_size: int) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_size)
        self._max_size = max_size
        self._received = 0
        self._key = b""
        self.request: Request | None = None
        self.sessions: list[ExtensionSession] = []
        self.subprotocol: str | None = None
        self.trailing = b""

    def send_request(self, event: Request, supported: Sequence[Extension] = ()) -> bytes:
        """The opening request (4.1), with a fresh random key; ``supported``
        are offered when the Request names no extensions.

        The request is written here, its caller-given headers checked as
        h11 checks them; h11 then only needs to know that a GET proposing
        an upgrade went out, to parse the response in the right state: the
        reusable _PRIMER event tells it so, at a third of the cost of having
        it write the real request.  h11 is not told that the request's (empty)
        body ended: it reads a server's response whatever the client's
        state, and the EndOfMessage would cost a third of the primer again.
        Everything is checked before h11 or the key change, so a refused
        Request may be corrected and sent again.
        """
        host = _host(event.host)
        target = (
            event.target.encode("ascii") if isinstance(event.target, str) and event.target.isascii() else b""
        )
        if not _TARGET.fullmatch(target):
            raise InvalidEventError(f"cannot send this Request: invalid target {event.target!r}")
        key = binascii.b2a_base64(os.urandom(16), newline=False)
        lines = [
            b"GET " + target + b" HTTP/1.1\r\n",
            header_line(b"Host", host),
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key,
            b"\r\nSec-WebSocket-Version: 13\r\n",
        ]
        if event.subprotocols:
            lines.append(b"Sec-WebSocket-Protocol: " + subprotocol_names(event.subprotocols) + b"\r\n")
        offers: list[Extension] = []
        for ext in event.extensions or supported:
            if not isinstance(ext, Extension):
                raise InvalidEventError(f"a client offers extensions as Extension objects, not {ext!r}")
            offers.append(ext)
        offered = offer(offers)
        if offered is not None:
            lines.append(header_line(b"Sec-WebSocket-Extensions", latin1(offered, "offer")))
        if event.origin is not None:
            lines.append(header_line(b"Origin", latin1(event.origin, "origin")))
        if event.extra_headers:
            lines.extend(extra_lines(event.extra_headers))
        lines.append(b"\r\n")
        self._h11.send(_PRIMER)
        self.request = event if event.extensions or not supported else _with_offers(event, supported)
        self._key = key
        return b"".join(lines)

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse the response: ``Accept``, or ``Reject`` and ``RejectData``."""
        self._h11.receive_data(data)
        self._received += len(data)
        events: list[Event] = []
        try:
            while True:
                event = self._h11.next_event()
                if isinstance(event, h11.InformationalResponse | h11.Response):
                    # h11 bounds only an incomplete head; one that came whole is measured here.
                    after = self._h11.trailing_data[0]
                    if self._received - len(after) > self._max_size:
                        raise _head_too_large(self._max_size)
                if isinstance(event, h11.InformationalResponse):
                    if event.status_code == 101:
                        events.append(self._check(event))
                        self.trailing = after
                        return events
                elif isinstance(event, h11.Response):
                    length = _content_length(event.headers)
                    events.append(
                        Reject(
                            event.status_code,
                            headers=list(event.headers),
                            has_body=event.status_code not in _NO_BODY and length != 0,
                        )
                    )
                elif isinstance(event, h11.Data):
                    events.append(RejectData(bytes(event.data), body_finished=False))
                elif isinstance(event, h11.EndOfMessage):
                    events.append(RejectData(b"", body_finished=True))
                    return events
                else:  # NEED_DATA; h11 reports an early close as an error
                    return events
        except h11.RemoteProtocolError as error:
            raise RemoteProtocolError(f"invalid HTTP response: {error}") from None

    def _check(self, response: h11.InformationalResponse) -> Accept:
        """The client's checks of the 101 response (end of section 4.1)."""
        request = self.request
        assert request is not None
        headers, fields = index_headers(response.headers)
        if not has_token(fields, b"upgrade", b"websocket"):
            raise RemoteProtocolError("the response lacks 'Upgrade: websocket'")
        if not has_token(fields, b"connection", b"upgrade"):
            raise RemoteProtocolError("the response lacks 'Connection: Upgrade'")
        if fields.get(b"sec-websocket-accept") != [accept_token(self._key)]:
            raise RemoteProtocolError("wrong or missing Sec-WebSocket-Accept")
        protocols = tokens(fields, b"sec-websocket-protocol")
        if len(protocols) > 1 or (protocols and protocols[0] not in request.subprotocols):
            raise RemoteProtocolError(f"the server chose a subprotocol that was not offered: {protocols}")
        self.subprotocol = protocols[0] if protocols else None
        elements = tokens(fields, b"sec-websocket-extensions")
        offered = [ext for ext in request.extensions if isinstance(ext, Extension)]
        self.sessions = finalize(elements, offered)
        # The Accept names the extensions in the order of the answer.
        by_name = {ext.name: ext for ext in offered}
        accepted = [by_name[parse_extension(element)[0]] for element in elements]
        return Accept(
            subprotocol=self.subprotocol,
            extensions=tuple(accepted),
            extra_headers=tuple([(k, v) for k, v in headers if k not in HANDSHAKE_HEADERS]),
        )


def _host(host: object) -> bytes:
    """The Host header's value: ASCII as it is, a Unicode name as IDNA."""
    if not isinstance(host, str):
        raise InvalidEventError(f"a Request's host is a str, not {host!r}")
    if host.isascii():
        return host.encode("ascii")
    try:
        return host.encode("idna")
    except UnicodeError:
        raise InvalidEventError(
            f"cannot send this Request: {host!r} is not a valid internationalised host name"
        ) from None


def _with_offers(request: Request, offers: Sequence[Extension]) -> Request:
    """``request`` with the connection's extensions as its offers."""
    return Request(
        request.host,
        request.target,
        subprotocols=request.subprotocols,
        extensions=tuple(offers),
        extra_headers=request.extra_headers,
        origin=request.origin,
    )


def origin_allowed(request: Request, allowed: Iterable[str], *, allow_missing: bool = False) -> bool:
    """Whether a server should accept ``request`` given the origins it serves.

    Browsers send the page's origin (``scheme://host[:port]``) with every
    WebSocket handshake, and do not stop a page from opening a WebSocket to
    another site: a server that relies on cookies must check the origin, or
    any site can use a visitor's session (cross-site WebSocket hijacking).
    Origins are compared whole and without regard to case; ``"null"`` (a
    sandboxed page, a file) matches only if listed.  Clients that are not
    browsers often send no Origin.

    :param request: the :class:`~wsproto_lite.events.Request` received.
    :param allowed: the origins served, such as ``"https://example.com"``.
    :param allow_missing: whether a request without an ``Origin`` header
        passes (``False``: only browsers' requests, which carry one, do).
    """
    if request.origin is None:
        return allow_missing
    origin = request.origin.strip().lower()
    return any(origin == candidate.strip().lower() for candidate in allowed)
