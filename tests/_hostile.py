"""A corpus of hostile requests: request smuggling and malformed messages that an HTTP/1.1
server must refuse (RFC 9110, RFC 9112). Each is answered with an error status and the
connection closed; the application never sees it, and a request pipelined behind it is never
answered (a server that answered it would have been desynchronised).

Shared by ``tests/test_hostile.py`` (respcore's server) and ``bench/hostile_corpus.py``
(the same corpus against uvicorn and nginx, as a table).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    rule: str  # the rule that makes the request bad
    statuses: frozenset[int] = frozenset({400})


H = b"Host: example.test\r\n"

# Pipelined behind every case: answered only by a server that lost track of the framing.
FOLLOW = b"GET /smuggled HTTP/1.1\r\n" + H + b"\r\n"

CASES = [
    Case(
        "content-length-and-chunked",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        "RFC 9112 §6.1: Content-Length with Transfer-Encoding",
    ),
    Case(
        "two-content-lengths",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "RFC 9112 §6.3: differing Content-Length values",
    ),
    Case(
        "content-length-list",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!",
        "RFC 9112 §6.3: a Content-Length list of differing values",
    ),
    Case(
        "content-length-sign",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello",
        "RFC 9110 §8.6: Content-Length = 1*DIGIT (a sign)",
    ),
    Case(
        "content-length-inner-space",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5 5\r\n\r\nhello",
        "RFC 9110 §8.6: Content-Length = 1*DIGIT (a space inside)",
    ),
    Case(
        "content-length-non-digit",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5a\r\n\r\nhello",
        "RFC 9110 §8.6: Content-Length = 1*DIGIT (a letter)",
    ),
    Case(
        "transfer-encoding-not-chunked",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nhello",
        "RFC 9112 §6.3: a request whose final transfer coding is not chunked",
    ),
    Case(
        "transfer-encoding-chunked-not-final",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        "RFC 9112 §6.3: chunked not the final transfer coding",
    ),
    Case(
        "transfer-encoding-chunked-twice",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        "RFC 9112 §7: chunked applied more than once",
    ),
    Case(
        "transfer-encoding-in-http-1.0",
        b"POST / HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing",
    ),
    Case(
        "obs-fold",
        b"GET / HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n",
        "RFC 9112 §5.2: obs-fold line folding",
    ),
    Case(
        "bare-lf-line-ends",
        b"GET / HTTP/1.1\n" + b"Host: example.test\n\n",
        "RFC 9112 §2.2: lines end with CRLF (bare LF)",
    ),
    Case(
        "bare-cr-line-ends",
        b"GET / HTTP/1.1\r" + b"Host: example.test\r\r",
        "RFC 9112 §2.2: a bare CR",
    ),
    Case(
        "nul-in-field",
        b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
        "RFC 9110 §5.5: NUL in a field value",
    ),
    Case(
        "control-in-field",
        b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n",
        "RFC 9110 §5.5: a control character in a field value",
    ),
    Case(
        "space-before-colon",
        b"GET / HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n",
        "RFC 9112 §5.1: whitespace between field name and colon",
    ),
    Case(
        "no-host",
        b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
        "RFC 9112 §3.2: an HTTP/1.1 request without Host",
    ),
    Case(
        "two-hosts",
        b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
        "RFC 9112 §3.2: more than one Host field",
    ),
    Case(
        "host-list",
        b"GET / HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n",
        "RFC 9112 §3.2: a Host field that is not one valid host",
    ),
    Case(
        "invalid-chunk-size",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "RFC 9112 §7.1: chunk-size = 1*HEXDIG",
    ),
    Case(
        "oversized-chunk-size",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
        b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "RFC 9112 §7.1: a chunk size past any length the server can hold",
        frozenset({400, 413}),
    ),
    Case(
        "lf-after-chunk-size",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        "RFC 9112 §7.1: a chunk-size line ends with CRLF",
    ),
    Case(
        "http2-preface",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "RFC 9113 §3.4: the HTTP/2 connection preface on an HTTP/1.1 port",
        frozenset({400, 505}),
    ),
    Case(
        "oversized-head",
        b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n",
        "RFC 6585 §5: a head over the server's limit",
        frozenset({400, 431}),
    ),
]

# Sent by bench/hostile_corpus.py for the table, but not refused by respcore: httptools reports
# no chunk extension and no parse offset, so the server cannot measure an extension's length.
# llhttp does not buffer extensions (no memory is at stake), and one that never ends is closed
# by the server's body_timeout (tests/test_hostile.py).
ACCEPTED = [
    Case(
        "long-chunk-extension",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
        b"5;ext=" + b"a" * 20000 + b"\r\nhello\r\n0\r\n\r\n",
        "RFC 9112 §7.1.1: a 20,000-byte chunk extension",
    ),
]
