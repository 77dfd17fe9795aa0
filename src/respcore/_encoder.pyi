"""Signatures of the compiled core; the same as respcore._pyencoder's."""

import os
from typing import Any

LAST_CHUNK: bytes

class FieldStore:
    _fields: list[tuple[str, str]]
    def __init__(self) -> None: ...

def encode_status_line(status: int, version: str = "1.1") -> bytes: ...
def encode_head(status: int, headers: Any, version: str = "1.1") -> bytes: ...
def check_field(name: object, value: object) -> tuple[str, str]: ...
def encode_chunk(data: bytes | bytearray | memoryview | str) -> bytes: ...
def content_disposition(
    filename: str | os.PathLike[str] | None, disposition: str = "attachment"
) -> str: ...
def encode_event(
    data: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes: ...
