"""Cookies (RFC 6265bis): ``res.set_cookie`` / ``res.delete_cookie``. What a browser-like
cookie jar stores is judged by the standard library's ``http.cookies`` and
``http.cookiejar``, by httpx's and aiohttp's clients against the live server, and under a
real uvicorn."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import http.cookies
import time
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
from _live import LOOPS, POSIX_ONLY, WAIT, Live, live_server
from _servers import Routes as AsgiRoutes
from _servers import serve as serve_asgi

from respcore import JsonResponse, Response, TextResponse
from respcore.cookies import set_cookie_value
from respcore.server import Request


def set_cookies(response: Response) -> list[str]:
    return response.headers.getall("set-cookie", [])


def parsed(value: str) -> http.cookies.Morsel[str]:
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    jar.load(value)
    (morsel,) = jar.values()
    return morsel


# -- the field each call adds --------------------------------------------------------------------


def test_each_call_adds_one_set_cookie_field_never_folded() -> None:
    res = Response()
    res.set_cookie("a", "1")
    res.set_cookie("b", "2", httponly=True)
    res.delete_cookie("c")
    head = res.encode().split(b"\r\n\r\n")[0].split(b"\r\n")
    assert [line for line in head if line.startswith(b"Set-Cookie:")] == [
        b"Set-Cookie: a=1; Path=/; SameSite=Lax",
        b"Set-Cookie: b=2; Path=/; HttpOnly; SameSite=Lax",
        b"Set-Cookie: c=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax",
    ]


def test_every_attribute_is_read_back_by_the_standard_library() -> None:
    when = datetime.datetime(2030, 5, 17, 8, 30, 0, tzinfo=datetime.timezone.utc)
    res = Response()
    res.set_cookie(
        "session",
        "abc.DEF-123_~!",
        max_age=3600,
        expires=when,
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    (value,) = set_cookies(res)
    morsel = parsed(value)
    assert morsel.key == "session"
    assert morsel.value == "abc.DEF-123_~!"
    assert morsel["max-age"] == "3600"
    assert morsel["expires"] == "Fri, 17 May 2030 08:30:00 GMT"
    assert morsel["path"] == "/app"
    assert morsel["domain"] == "example.com"
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"


def test_partitioned_is_written_with_secure() -> None:
    value = set_cookie_value("id", "7", secure=True, samesite="none", partitioned=True)
    assert value == "id=7; Path=/; Secure; SameSite=None; Partitioned"


def test_samesite_none_in_python_omits_the_attribute() -> None:
    assert set_cookie_value("a", "1", samesite=None) == "a=1; Path=/"


def test_path_none_omits_the_attribute() -> None:
    assert set_cookie_value("a", "1", path=None) == "a=1; SameSite=Lax"


def test_quoted_value_is_kept_as_given() -> None:
    assert set_cookie_value("a", '"quoted"').startswith('a="quoted";')


@pytest.mark.parametrize(
    "expires",
    [
        datetime.datetime(2031, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        datetime.datetime(
            2031, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "Thu, 02 Jan 2031 03:04:05 GMT",
        "Thursday, 02-Jan-31 03:04:05 GMT",
        "Thu Jan  2 03:04:05 2031",
    ],
    ids=["utc", "offset", "imf-fixdate", "rfc850", "asctime"],
)
def test_expires_is_written_as_an_imf_fixdate(expires: object) -> None:
    value = set_cookie_value("a", "1", expires=expires)  # type: ignore[arg-type]
    assert "; Expires=Thu, 02 Jan 2031 03:04:05 GMT;" in value


def test_expires_in_seconds_counts_from_now() -> None:
    value = set_cookie_value("a", "1", expires=120)
    written = value.split("Expires=")[1].split(";")[0]
    assert written.endswith(" GMT")
    stamp = email.utils.parsedate_to_datetime(written).timestamp()
    assert time.time() + 110 < stamp < time.time() + 130


def test_delete_cookie_uses_the_same_path_and_domain() -> None:
    res = Response()
    res.delete_cookie("sid", path="/admin", domain="example.org", secure=True, samesite="none")
    morsel = parsed(set_cookies(res)[0])
    assert morsel.value == ""
    assert morsel["max-age"] == "0"
    assert morsel["path"] == "/admin"
    assert morsel["domain"] == "example.org"
    assert morsel["secure"] is True


def test_cookies_go_out_with_every_body_kind() -> None:
    res = JsonResponse({"ok": True})
    res.set_cookie("a", "1")
    wire = res.encode()
    assert b"\r\nSet-Cookie: a=1; Path=/; SameSite=Lax\r\n" in wire
    assert wire.endswith(b'{"ok":true}')


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "a b"}, "cookie key 'a b' is not a token"),
        ({"key": "a;b"}, "is not a token"),
        ({"key": ""}, "cookie key '' is not a token"),
        ({"key": "é"}, "is not a token"),
        ({"value": "a b"}, "cookie 'k': value contains space"),
        ({"value": 'a"b'}, "value contains a double quote"),
        ({"value": '"ab'}, "value contains a double quote"),
        ({"value": "a,b"}, "value contains a comma"),
        ({"value": "a;b"}, "value contains a semicolon"),
        ({"value": "a\\b"}, "value contains a backslash"),
        ({"value": "a\r\nSet-Cookie: admin=1"}, "value contains the control character 0x0d"),
        ({"value": "a\x00"}, "the control character 0x00"),
        ({"value": "caf\u00e9"}, "the non-ASCII character 'é'"),
        ({"value": "x" * 4096}, "browsers ignore a cookie over 4096"),
        ({"samesite": "relaxed"}, "samesite must be 'strict', 'lax', 'none' or None"),
        ({"samesite": "none"}, "samesite='none' needs secure=True"),
        ({"partitioned": True}, "partitioned=True needs secure=True"),
        ({"path": "/a;b"}, "path contains a semicolon"),
        ({"path": "/a\nb"}, "path contains the control character 0x0a"),
        ({"path": ""}, "path is empty"),
        ({"path": "/" + "p" * 1024}, "browsers ignore an attribute over 1024"),
        ({"domain": "ex.com;x"}, "domain contains a semicolon"),
        ({"domain": "ex\x7f.com"}, "domain contains the control character 0x7f"),
        ({"max_age": -1}, "max_age must be >= 0"),
        ({"expires": datetime.datetime(2030, 1, 1)}, "expires is a naive datetime"),
        ({"expires": "tomorrow"}, "expires 'tomorrow' is not an HTTP-date"),
        ({"expires": float("nan")}, "expires must be a finite number"),
        ({"key": "__Secure-id"}, "a __Secure- prefix needs secure=True"),
        ({"key": "__Host-id", "secure": True, "path": "/x"}, "a __Host- prefix needs path='/'"),
        ({"key": "__Host-id", "secure": True, "domain": "a.b"}, "and no domain"),
    ],
)
def test_bad_cookie_raises_value_error_naming_the_field(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"key": "k", "value": "v", **kwargs}
    res = Response()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        res.set_cookie(**arguments)  # type: ignore[arg-type]
    assert "set-cookie" not in res.headers  # nothing partial was added


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": b"k"}, "cookie key must be str"),
        ({"value": 1}, "cookie 'k': value must be str"),
        ({"max_age": 1.5}, "max_age must be an int"),
        ({"max_age": True}, "max_age must be an int"),
        ({"expires": True}, "expires must be an aware datetime"),
        ({"expires": [1]}, "expires must be an aware datetime"),
        ({"path": 1}, "path must be str or None"),
    ],
)
def test_wrong_types_raise_type_error_naming_the_field(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"key": "k", "value": "v", **kwargs}
    with pytest.raises(TypeError, match=message):
        Response().set_cookie(**arguments)  # type: ignore[arg-type]


def test_delete_cookie_checks_its_key() -> None:
    with pytest.raises(ValueError, match="cookie key 'a b' is not a token"):
        Response().delete_cookie("a b")


# -- real cookie jars ------------------------------------------------------------------------


async def cookie_app(req: Request, res: Response) -> Response | None:
    if req.path == "/set":
        res.set_cookie("plain", "1")
        res.set_cookie("session", "s3cr3t", httponly=True, max_age=600)
        res.set_cookie("scoped", "yes", path="/scoped")
        res.text = "set\n"
        return None
    if req.path == "/clear":
        res.delete_cookie("plain")
        res.text = "cleared\n"
        return None
    if req.path.startswith("/scoped"):
        return TextResponse(req.headers.get("cookie", ""))
    return TextResponse(req.headers.get("cookie", ""))


@pytest.fixture(scope="module", params=LOOPS)
def cookie_server(request: pytest.FixtureRequest) -> Iterator[Live]:
    with live_server(cookie_app, request.param) as server:
        yield server


def _sent(cookie_header: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in cookie_header.split("; ") if part]
    return dict(pairs)  # type: ignore[arg-type]


@POSIX_ONLY
def test_httpx_cookie_jar_stores_what_was_set(cookie_server: Live) -> None:
    with httpx.Client(base_url=cookie_server.url, timeout=WAIT) as client:
        assert client.get("/set").status_code == 200
        assert {c.name: c.value for c in client.cookies.jar} == {
            "plain": "1",
            "session": "s3cr3t",
            "scoped": "yes",
        }
        session = next(c for c in client.cookies.jar if c.name == "session")
        assert session.has_nonstandard_attr("HttpOnly")
        assert session.expires is not None
        assert session.expires > time.time() + 500
        # The jar sends back what was set, by path.
        assert _sent(client.get("/").text) == {"plain": "1", "session": "s3cr3t"}
        assert _sent(client.get("/scoped/x").text) == {
            "plain": "1",
            "session": "s3cr3t",
            "scoped": "yes",
        }
        client.get("/clear")
        assert "plain" not in {c.name for c in client.cookies.jar}
        assert _sent(client.get("/").text) == {"session": "s3cr3t"}


@POSIX_ONLY
def test_aiohttp_cookie_jar_stores_what_was_set(cookie_server: Live) -> None:
    async def session_run() -> tuple[dict[str, str], str, str]:
        # unsafe=True: aiohttp's jar otherwise refuses cookies from an IP address host.
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(base_url=cookie_server.url, cookie_jar=jar) as client:
            async with client.get("/set") as response:
                assert response.status == 200
            stored = {morsel.key: morsel.value for morsel in jar}
            async with client.get("/") as response:
                echoed = await response.text()
            async with client.get("/clear") as response:
                await response.read()
            async with client.get("/") as response:
                after = await response.text()
        return stored, echoed, after

    stored, echoed, after = asyncio.run(session_run())
    assert stored == {"plain": "1", "session": "s3cr3t", "scoped": "yes"}
    assert _sent(echoed) == {"plain": "1", "session": "s3cr3t"}
    assert _sent(after) == {"session": "s3cr3t"}


@POSIX_ONLY
def test_cookies_set_under_uvicorn_reach_httpx_jar() -> None:
    routes = AsgiRoutes()

    def setting(scope: object) -> Response:
        res = TextResponse("ok")
        res.set_cookie("a", "1")
        res.set_cookie("b", "2", secure=False, httponly=True)
        return res

    routes.add("/", setting)
    with serve_asgi(routes) as url, httpx.Client(base_url=url, timeout=WAIT) as client:
        response = client.get("/")
        assert response.headers.get_list("set-cookie") == [
            "a=1; Path=/; SameSite=Lax",
            "b=2; Path=/; HttpOnly; SameSite=Lax",
        ]
        assert dict(client.cookies) == {"a": "1", "b": "2"}
