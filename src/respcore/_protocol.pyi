"""Signatures of the compiled protocol; the same as respcore._pyprotocol's."""

import asyncio
import collections
from typing import Any

from .headers import Headers
from .responses import Response
from .writer import TransportWriter

class Request:
    method: str
    url: bytes
    version: str
    keep_alive: bool
    _fields: list[tuple[bytes, bytes]]
    _headers: Headers | None
    _body: list[bytes] | bytes
    _path: bytes | None
    _query: str
    def __init__(
        self,
        method: str,
        url: bytes,
        fields: list[tuple[bytes, bytes]],
        version: str,
        keep_alive: bool,
    ) -> None: ...
    @property
    def raw_path(self) -> bytes: ...
    @property
    def path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    async def body(self) -> bytes: ...

class Core:
    _body_since: int
    _body_size: int
    _busy: bool
    _closing: bool
    _expect: bool
    _fields: list[tuple[bytes, bytes]]
    _head_since: int
    _head_size: int
    _in_head: bool
    _owe_continue: bool
    _pending: int
    _queue: collections.deque[Any]
    _reading: bool
    _refusal: Response | None
    _url: bytes
    access_log: bool
    app: Any
    body: list[bytes] | None
    lost: bool
    max_body_size: int
    max_head_size: int
    parser: Any
    seen: int
    server: Any
    transport: asyncio.Transport
    writer: TransportWriter
    def __init__(self, server: Any) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def on_url(self, url: bytes) -> None: ...
    def on_header(self, name: bytes, value: bytes) -> None: ...
    def on_headers_complete(self) -> None: ...
    def on_body(self, body: bytes) -> None: ...
    def on_message_complete(self) -> None: ...
    def _answer(self, request: Request) -> None: ...
    def _chosen(self, request: Request, result: object) -> Response: ...
