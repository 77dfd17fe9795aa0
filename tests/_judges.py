"""Independent judges of what respcore emits: the httptools (llhttp) and h11 response parsers,
and the standard library's RFC 2231/8187 parameter parser for Content-Disposition."""

from __future__ import annotations

import email
import email.policy
import email.utils
from dataclasses import dataclass, field

import h11
import httptools


@dataclass
class Parsed:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    complete: bool = False


@dataclass
class _Collector:
    parsed: Parsed = field(default_factory=lambda: Parsed(0, b"", []))

    def on_status(self, status: bytes) -> None:
        self.parsed.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.parsed.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.parsed.body += body

    def on_message_complete(self) -> None:
        self.parsed.complete = True


def parse_httptools(message: bytes, *, eof: bool = False) -> Parsed:
    """Parse a response with llhttp. ``eof`` ends a close-delimited body."""
    collector = _Collector()
    parser = httptools.HttpResponseParser(collector)
    parser.feed_data(message)
    if eof and not collector.parsed.complete:
        parser.feed_data(b"")
    collector.parsed.status = parser.get_status_code()
    return collector.parsed


def parse_h11(message: bytes, *, method: str = "GET") -> Parsed:
    """Parse a response with h11 as a client that sent ``method /``."""
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(message)
    event = conn.next_event()
    assert isinstance(event, (h11.Response, h11.InformationalResponse)), event
    parsed = Parsed(event.status_code, event.reason, list(event.headers.raw_items()))
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            parsed.body += event.data
        elif isinstance(event, h11.EndOfMessage):
            parsed.complete = True
            break
        else:
            break
    return parsed


def parse_head_both(message: bytes) -> Parsed:
    """Parse a head with both parsers; they must agree; return what they saw."""
    by_llhttp = parse_httptools(message)
    by_h11 = parse_h11(message)
    assert by_llhttp.status == by_h11.status
    assert by_llhttp.reason == by_h11.reason
    assert by_llhttp.headers == by_h11.headers
    return by_llhttp


def disposition_filename(value: str) -> str | None:
    """The filename a recipient takes from a Content-Disposition value, RFC 6266 §4.3:
    ``filename*`` (RFC 8187) when present, else ``filename``."""
    message = email.message_from_string(
        f"Content-Disposition: {value}\n\n", policy=email.policy.compat32
    )
    params = message.get_params(header="content-disposition") or []
    plain = None
    for name, param in params[1:]:
        if name != "filename":
            continue
        if isinstance(param, tuple):
            return email.utils.collapse_rfc2231_value(param)
        plain = param
    return plain
