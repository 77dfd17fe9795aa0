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
