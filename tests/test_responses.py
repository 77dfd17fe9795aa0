"""Response objects and ``Response.encode()``: bytes judged by real parsers (h11, httptools)."""

from __future__ import annotations

import email.utils
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import httptools
import orjson
import pytest

import respcore
from respcore import (
    FileResponse,
    Headers,
    HTMLResponse,
    HtmlResponse,
    JSONResponse,
    JsonResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    TextResponse,
    set_json_dumps,
)
from respcore.framing import decide

# -- parsers -----------------------------------------------------------------------------------


@dataclass
class Parsed:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool
    keep_alive: bool = True
    chunked: bool = False
    extra: list[Any] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        values = self.getall(name)
        return values[0] if values else None

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def parse_h11(data: bytes, method: str = "GET", eof: bool = False) -> Parsed:
    """Parse a response with h11, as the client of an HTTP/1.1 ``method`` request. ``eof``
    tells h11 the server closed the connection after ``data``."""
    conn = h11.Connection(h11.CLIENT)
    headers = [("Host", "example.test")]
    conn.send(h11.Request(method=method, target="/", headers=headers))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    status = 0
    fields: list[tuple[str, str]] = []
    body = b""
    complete = False
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
            fields = [(k.decode(), v.decode("latin-1")) for k, v in event.headers.raw_items()]
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            complete = True
            break
        else:
            break
    return Parsed(status, fields, body, complete, keep_alive=conn.our_state is h11.DONE)


def parse_httptools(data: bytes, eof: bool = False) -> Parsed:
    """Parse a response with httptools (llhttp)."""

    class Handler:
        def __init__(self) -> None:
            self.headers: list[tuple[str, str]] = []
            self.body = b""
            self.complete = False

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name.decode(), value.decode("latin-1")))

        def on_body(self, body: bytes) -> None:
            self.body += body

        def on_message_complete(self) -> None:
            self.complete = True

    handler = Handler()
    parser = httptools.HttpResponseParser(handler)
    parser.feed_data(data)
    if eof and not handler.complete:
        # llhttp finishes a close-delimited body at EOF; httptools exposes no EOF call, so a
        # close-delimited body is complete when all data has been taken as body.
        handler.complete = True
    return Parsed(
        parser.get_status_code(),
        handler.headers,
        handler.body,
        handler.complete,
        keep_alive=parser.should_keep_alive(),
    )


HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


# -- bytes bodies on the wire ------------------------------------------------------------------


def test_json_response_encodes_a_message_both_parsers_accept() -> None:
    data = JsonResponse({"message": "Hello, world!"}).encode()
    for parsed in (parse_h11(data), parse_httptools(data)):
        assert parsed.status == 200
        assert parsed.complete
        assert parsed.body == b'{"message":"Hello, world!"}'
        assert parsed.get("content-type") == "application/json"
        assert parsed.get("content-length") == "27"


def test_bytes_body_gets_content_length() -> None:
    parsed = parse_h11(Response(b"abc").encode())
    assert parsed.getall("content-length") == ["3"]
    assert parsed.body == b"abc"


def test_empty_body_gets_content_length_zero() -> None:
    parsed = parse_h11(Response().encode())
    assert parsed.getall("content-length") == ["0"]
    assert parsed.complete


def test_status_line_is_http11_also_for_http10_requests() -> None:
    # RFC 9110 §6.2: a server sends the highest version it conforms to.
    assert Response(b"x").encode(version="1.0").startswith(b"HTTP/1.1 200 OK\r\n")


def test_head_method_sends_no_body() -> None:
    data = Response(b"hello").encode(method="HEAD")
    parsed = parse_h11(data, method="HEAD")
    assert parsed.body == b""
    assert parsed.get("content-length") == "5"
    assert data.endswith(b"\r\n\r\n")


def test_head_method_keeps_the_connection() -> None:
    assert parse_h11(Response(b"hello").encode(method="HEAD"), method="HEAD").keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_statuses_send_no_body_and_no_content_length(status: int) -> None:
    data = Response(status_code=status).encode()
    parsed = parse_httptools(data)
    assert parsed.status == status
    assert parsed.get("content-length") is None
    assert parsed.get("transfer-encoding") is None
    assert data.endswith(b"\r\n\r\n")


def test_status_204_drops_an_application_content_length() -> None:
    response = Response(status_code=204, headers={"Content-Length": "0"})
    assert parse_httptools(response.encode()).get("content-length") is None


def test_status_304_keeps_validators() -> None:
    response = Response(status_code=304, headers={"ETag": '"abc"', "Content-Length": "10"})
    parsed = parse_h11(response.encode())
    assert parsed.get("etag") == '"abc"'
    assert parsed.get("content-length") is None


def test_informational_status_has_no_framing_fields_and_no_date() -> None:
    data = Response(status_code=103, headers={"Link": "</s.css>; rel=preload"}).encode()
    assert data == b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"


def test_keep_alive_false_adds_connection_close() -> None:
    parsed = parse_h11(Response(b"x").encode(keep_alive=False))
    assert parsed.get("connection") == "close"
    assert not parsed.keep_alive


def test_http11_kept_connection_has_no_connection_field() -> None:
    assert parse_h11(Response(b"x").encode()).get("connection") is None


def test_http10_request_without_keep_alive_gets_connection_close() -> None:
    parsed = parse_httptools(Response(b"x").encode(version="1.0", keep_alive=False))
    assert parsed.get("connection") == "close"
    assert parsed.body == b"x"


def test_http10_request_with_keep_alive_gets_connection_keep_alive() -> None:
    data = Response(b"x").encode(version="1.0", keep_alive=True)
    parsed = parse_httptools(data)
    assert parsed.get("connection") == "keep-alive"
    assert parsed.get("content-length") == "1"


def test_application_connection_close_is_kept_once() -> None:
    response = Response(b"x", headers={"Connection": "close"})
    assert parse_h11(response.encode()).getall("connection") == ["close"]


def test_chunked_bytes_body_is_sent_in_chunks() -> None:
    response = Response(b"hello")
    response.chunked = True
    data = response.encode()
    assert data.endswith(b"5\r\nhello\r\n0\r\n\r\n")
    parsed = parse_h11(data)
    assert parsed.body == b"hello"
    assert parsed.get("content-length") is None
    assert parsed.complete


def test_chunked_response_to_http10_is_close_delimited_without_transfer_encoding() -> None:
    response = Response(b"hello")
    response.chunked = True
    data = response.encode(version="1.0")
    parsed = parse_httptools(data, eof=True)
    assert parsed.get("transfer-encoding") is None
    assert parsed.get("connection") == "close"
    assert parsed.body == b"hello"


def test_transfer_encoding_and_content_length_are_never_both_sent() -> None:
    response = Response(b"hello", headers={"Content-Length": "5", "Transfer-Encoding": "chunked"})
    parsed = parse_h11(response.encode())
    assert parsed.get("content-length") is None
    assert parsed.get("transfer-encoding") == "chunked"
    assert parsed.body == b"hello"


def test_date_is_added_as_an_imf_fixdate() -> None:
    parsed = parse_h11(Response(b"x").encode())
    dates = parsed.getall("date")
    assert len(dates) == 1
    assert HTTP_DATE.fullmatch(dates[0])
    assert email.utils.parsedate_to_datetime(dates[0]).tzname() == "UTC"


def test_date_set_by_the_application_is_not_replaced() -> None:
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parse_h11(Response(headers={"Date": date}).encode()).getall("date") == [date]


def test_no_server_header_is_added() -> None:
    assert parse_h11(Response(b"x").encode()).get("server") is None


def test_application_header_case_and_order_are_kept() -> None:
    response = TextResponse("x", headers=[("X-B", "2"), ("x-a", "1")])
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    data = response.encode()
    assert data.index(b"X-B: 2") < data.index(b"x-a: 1") < data.index(b"Set-Cookie: a=1")
    assert parse_httptools(data).getall("set-cookie") == ["a=1", "b=2"]


def _without_date(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", data)


def test_encoding_twice_gives_the_same_bytes() -> None:
    response = JsonResponse({"a": [1, 2]}, headers={"X-Id": "7"})
    assert _without_date(response.encode()) == _without_date(response.encode())


def test_encoding_does_not_change_the_headers() -> None:
    response = JsonResponse({"a": 1}, headers={"X-Id": "7"})
    before = response.headers.items()
    response.encode()
    response.encode(method="HEAD", version="1.0", keep_alive=False)
    assert response.headers.items() == before


def test_encoding_a_204_does_not_remove_the_application_content_length() -> None:
    response = Response(status_code=204, headers={"Content-Length": "0"})
    response.encode()
    assert response.headers["content-length"] == "0"


def test_encode_rejects_a_stream_body() -> None:
    response = StreamingResponse([b"a"])
    with pytest.raises(TypeError, match="stream"):
        response.encode()


def test_encode_rejects_a_file_body(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"a")
    with pytest.raises(TypeError, match="file"):
        FileResponse(path).encode()


def test_encode_rejects_an_unknown_http_version() -> None:
    with pytest.raises(ValueError, match="version"):
        Response(b"x").encode(version="2.0")


# -- framing of streams and files --------------------------------------------------------------


def test_stream_without_content_length_is_close_delimited() -> None:
    response = Response()

    @response.stream
    async def body() -> Any:
        yield b"x"

    framing = response.framing()
    assert framing.body == "close"
    assert ("Connection", "close") in framing.fields
    assert not framing.keep_alive


def test_streaming_response_is_chunked() -> None:
    framing = StreamingResponse([b"x"]).framing()
    assert framing.body == "chunked"
    assert framing.keep_alive


def test_streaming_response_with_content_length_is_not_chunked() -> None:
    response = StreamingResponse([b"abc"], headers={"Content-Length": "3"})
    assert not response.chunked
    framing = response.framing()
    assert framing.body == "length"
    assert framing.content_length == 3


def test_head_of_a_stream_has_no_body_and_keeps_the_connection() -> None:
    framing = Response().framing(method="HEAD")
    response = StreamingResponse([b"x"])
    framing = response.framing(method="HEAD")
    assert framing.body == "none"
    assert framing.keep_alive
    assert ("Transfer-Encoding", "chunked") in framing.fields


@pytest.mark.parametrize("status", [103, 204])
def test_content_on_a_status_that_cannot_carry_it_is_rejected(status: int) -> None:
    with pytest.raises(ValueError, match=f"status {status}: .* cannot carry content"):
        Response(b"lost?", status_code=status).encode()


def test_framing_never_changes_its_input_fields() -> None:
    fields = [("Content-Length", "3"), ("Transfer-Encoding", "chunked")]
    decide(304, fields, "bytes", 3)
    assert fields == [("Content-Length", "3"), ("Transfer-Encoding", "chunked")]


def test_framing_asks_for_no_date_when_told() -> None:
    framing = decide(200, [], "bytes", 0, date=False)
    assert [name for name, _ in framing.fields] == ["Content-Length"]


def test_file_framing_has_length_and_validators(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    framing = FileResponse(path).framing()
    fields = dict(framing.fields)
    assert framing.body == "length"
    assert fields["Content-Length"] == "8"
    st = os.stat(path)
    assert fields["ETag"] == f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    assert HTTP_DATE.fullmatch(fields["Last-Modified"])


# -- members ---------------------------------------------------------------------------------


def test_text_sets_body_and_content_type() -> None:
    response = Response()
    response.text = "héllo"
    assert response.content == "héllo".encode()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_html_sets_body_and_content_type() -> None:
    response = Response()
    response.html = "<p>hi</p>"
    assert response.html == "<p>hi</p>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_content_does_not_touch_content_type() -> None:
    response = TextResponse("x")
    response.content = b"\x00\x01"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == b"\x00\x01"


def test_str_content_is_sent_as_utf8() -> None:
    assert parse_h11(Response("é").encode()).body == "é".encode()


def test_media_type_on_text_gets_a_charset() -> None:
    assert Response("a,b", media_type="text/csv").headers["content-type"] == (
        "text/csv; charset=utf-8"
    )


def test_content_type_in_headers_wins_over_media_type() -> None:
    response = JsonResponse({}, headers={"Content-Type": "application/problem+json"})
    assert response.headers.getall("content-type") == ["application/problem+json"]


def test_json_is_compact_utf8() -> None:
    response = JsonResponse({"name": "Zoë", "n": [1, 2]})
    assert response.content == '{"name":"Zoë","n":[1,2]}'.encode()


def test_json_member_sets_body_and_content_type() -> None:
    response = Response()
    response.json = {"title": "My awesome post"}
    assert response.headers["content-type"] == "application/json"
    assert response.json == {"title": "My awesome post"}


def test_json_serializer_per_response() -> None:
    response = JsonResponse({"b": 1, "a": 2}, dumps=lambda v: json.dumps(v, sort_keys=True))
    assert response.content == b'{"a": 2, "b": 1}'


def test_json_serializer_returning_bytes_is_used_as_is() -> None:
    assert JsonResponse({"a": "é"}, dumps=orjson.dumps).content == '{"a":"é"}'.encode()


def test_json_serializer_module_wide() -> None:
    previous = set_json_dumps(lambda value: b"[]")
    try:
        assert JsonResponse({"a": 1}).content == b"[]"
        response = Response()
        response.json = {"a": 1}
        assert response.content == b"[]"
    finally:
        set_json_dumps(previous)
    assert JsonResponse({"a": 1}).content == b'{"a":1}'


def test_json_member_uses_the_response_serializer() -> None:
    response = Response()
    response.dumps = orjson.dumps
    response.json = {"a": 1}
    assert response.content == b'{"a":1}'


def test_body_kinds_are_exclusive(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    response = Response(b"bytes")

    @response.stream
    async def body() -> Any:
        yield b"x"

    assert response.content is None
    response.file(path)
    assert response.framing().content_length == 3
    response.text = "back to bytes"
    assert response.encode().endswith(b"back to bytes")


def test_chunked_member_reflects_transfer_encoding() -> None:
    response = Response()
    response.chunked = True
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.chunked
    response.chunked = False
    assert "transfer-encoding" not in response.headers
    assert not response.chunked


def test_attachment_sets_content_disposition() -> None:
    response = Response(b"a,b")
    response.attachment = "report.csv"
    assert response.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert response.attachment == "report.csv"


def test_attachment_with_non_ascii_name_has_a_fallback_and_filename_star() -> None:
    response = Response(b"x")
    response.attachment = "résumé.pdf"
    value = response.headers["content-disposition"]
    assert value == "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"


def test_attachment_none_removes_content_disposition() -> None:
    response = Response(b"x")
    response.attachment = "a.txt"
    response.attachment = None
    assert "content-disposition" not in response.headers
    assert response.attachment is None


def test_aliases_are_the_same_classes() -> None:
    assert JSONResponse is JsonResponse
    assert HTMLResponse is HtmlResponse
    assert PlainTextResponse is TextResponse


def test_redirect_response_sets_location_and_307() -> None:
    parsed = parse_h11(RedirectResponse("/next?a=1").encode())
    assert parsed.status == 307
    assert parsed.get("location") == "/next?a=1"


def test_redirect_response_percent_encodes_non_ascii() -> None:
    assert RedirectResponse("/café").headers["location"] == "/caf%C3%A9"


def test_file_is_an_attachment_by_default(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a")
    response = Response()
    response.file(path)
    assert response.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert response.headers["content-type"] == "text/csv"


def test_file_inline_with_a_filename(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"a")
    response = FileResponse(path, attach=False, filename="photo.png")
    assert response.headers["content-disposition"] == 'inline; filename="photo.png"'
    assert response.headers["content-type"] == "image/png"


def test_file_inline_without_a_filename_has_no_content_disposition(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"a")
    assert "content-disposition" not in FileResponse(path, attach=False).headers


def test_import_respcore_does_not_import_starlette() -> None:
    import subprocess

    code = "import respcore, sys; sys.exit('starlette' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_public_names_are_exported() -> None:
    for name in ("Response", "StreamingResponse", "ClientDisconnect", "ResponseTimeout"):
        assert name in respcore.__all__


def test_response_timeout_is_a_timeout_error() -> None:
    assert issubclass(respcore.ResponseTimeout, TimeoutError)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["200", 200.0, True, None])
def test_status_code_must_be_an_int(status: Any) -> None:
    with pytest.raises(TypeError, match="status_code"):
        Response(status_code=status)


@pytest.mark.parametrize("status", [99, 1000, -1])
def test_status_code_must_be_in_range(status: int) -> None:
    with pytest.raises(ValueError, match="status_code"):
        Response(status_code=status)


def test_assigning_a_bad_status_code_raises_at_assignment() -> None:
    response = Response()
    with pytest.raises(ValueError, match="status_code"):
        response.status_code = 42
    assert response.status_code == 200


def test_json_response_checks_its_status_code() -> None:
    with pytest.raises(TypeError, match="status_code"):
        JsonResponse({}, status_code="201")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [3, 1.5, ["a"], object()])
def test_content_of_the_wrong_type_raises(value: Any) -> None:
    response = Response()
    with pytest.raises(TypeError, match="content"):
        response.content = value


def test_text_of_the_wrong_type_raises() -> None:
    response = Response()
    with pytest.raises(TypeError, match="text"):
        response.text = b"bytes"  # type: ignore[assignment]


def test_stream_decorator_rejects_a_plain_function() -> None:
    response = Response()

    def body() -> list[bytes]:
        return [b"x"]

    with pytest.raises(TypeError, match="stream"):
        response.stream(body)  # type: ignore[arg-type]


def test_stream_decorator_rejects_a_coroutine_function() -> None:
    response = Response()

    async def body() -> bytes:
        return b"x"

    with pytest.raises(TypeError, match="stream"):
        response.stream(raise_on_disconnect=True)(body)  # type: ignore[arg-type]


def test_stream_decorator_rejects_a_generator_that_needs_arguments() -> None:
    response = Response()

    async def body(request: Any) -> Any:
        yield b"x"

    with pytest.raises(TypeError, match=r"stream.*request"):
        response.stream(body)


def test_streaming_response_rejects_a_str() -> None:
    with pytest.raises(TypeError, match="stream"):
        StreamingResponse("not a stream")


def test_application_content_length_that_disagrees_with_the_body_raises() -> None:
    response = Response(b"hello", headers={"Content-Length": "4"})
    with pytest.raises(ValueError, match="Content-Length"):
        response.encode()


def test_malformed_application_content_length_raises() -> None:
    response = Response(b"hello", headers={"Content-Length": "5x"})
    with pytest.raises(ValueError, match="Content-Length"):
        response.encode()


def test_json_that_cannot_be_serialized_raises_type_error() -> None:
    with pytest.raises(TypeError, match="json"):
        JsonResponse({"when": object()})


def test_json_member_that_cannot_be_serialized_raises_type_error() -> None:
    response = Response()
    with pytest.raises(TypeError, match="json"):
        response.json = {1, 2}


def test_json_nan_is_rejected() -> None:
    with pytest.raises(TypeError, match="json"):
        JsonResponse(float("nan"))


def test_json_cycle_is_rejected() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(TypeError, match="json"):
        JsonResponse(cycle)


def test_orjson_failure_is_a_type_error_naming_json() -> None:
    with pytest.raises(TypeError, match="json"):
        JsonResponse({"when": object()}, dumps=orjson.dumps)


def test_file_missing_path_raises_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Response().file(tmp_path / "missing.txt")


def test_file_directory_raises_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="file"):
        FileResponse(tmp_path)


def test_file_chunk_size_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"a")
    with pytest.raises(ValueError, match="chunk_size"):
        Response().file(path, chunk_size=0)


def test_bad_header_value_in_constructor_names_the_header() -> None:
    with pytest.raises(ValueError, match="X-Bad"):
        Response(headers={"X-Bad": "a\r\nb"})


def test_timeout_must_be_a_number() -> None:
    with pytest.raises(TypeError, match="chunk_timeout"):
        StreamingResponse([b"x"], chunk_timeout="1")  # type: ignore[arg-type]


def test_headers_object_is_copied_not_shared() -> None:
    headers = Headers({"X-A": "1"})
    response = Response(headers=headers)
    response.headers["X-A"] = "2"
    assert headers["x-a"] == "1"
