"""Which core is in use, and that the package ships its typing files."""

from __future__ import annotations

from importlib import resources

import respcore
import respcore._pyencoder
import respcore.encoder


def test_compiled_flag_matches_the_environment(pure_run: bool) -> None:
    # make test builds the extension, so a run without RESPCORE_NO_EXTENSIONS must be on it.
    assert respcore.COMPILED is (not pure_run)


def test_public_functions_come_from_the_core_in_use() -> None:
    module = respcore.encode_head.__module__
    if respcore.COMPILED:
        assert module == "respcore._encoder"
    else:
        assert respcore.encode_head is respcore._pyencoder.encode_head


def test_public_names_are_all_exported() -> None:
    for name in respcore.__all__:
        assert hasattr(respcore, name), name


def test_package_ships_py_typed_and_the_extension_stub() -> None:
    files = resources.files("respcore")
    assert files.joinpath("py.typed").is_file()
    assert "def encode_head" in files.joinpath("_encoder.pyi").read_text()


def test_server_protocol_comes_from_the_core_in_use(pure_run: bool) -> None:
    # The server's per-request path: the compiled respcore._protocol unless the twin is asked
    # for (make test builds both extensions).
    import respcore._pyprotocol
    import respcore.protocol
    import respcore.server

    assert respcore.protocol.COMPILED is (not pure_run)
    connection = respcore.server._Connection
    request = respcore.server.Request
    if pure_run:
        assert issubclass(connection, respcore._pyprotocol.Core)
        assert request is respcore._pyprotocol.Request
    else:
        assert connection.__mro__[1].__module__ == "respcore._protocol"
        assert request.__module__ == "respcore._protocol"


def test_package_ships_the_protocol_stub() -> None:
    stub = resources.files("respcore").joinpath("_protocol.pyi").read_text()
    assert "class Core" in stub
    assert "class Request" in stub
