"""Builds the optional compiled core: ``respcore._encoder`` and ``respcore._protocol``.

Everything else lives in pyproject.toml. The extension is optional: with
``RESPCORE_NO_EXTENSIONS=1`` (or on an interpreter other than CPython) it is not built, and a
failed compile falls back to the pure-Python twin with a warning, never to a broken install.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The compiled core is for CPython. PyPy and other interpreters get the pure-Python twin, as
# they do with RESPCORE_NO_EXTENSIONS=1: through their C-API emulation an extension is slower
# there than plain Python.
NO_EXTENSIONS = (
    os.environ.get("RESPCORE_NO_EXTENSIONS", "") not in ("", "0")
    or sys.implementation.name != "cpython"
)


class OptionalBuildExt(build_ext):
    """Build the extension if possible; on failure install the pure-Python twin."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # compiler missing or broken
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: Exception) -> None:
        print(
            f"WARNING: respcore's compiled core was not built ({exc}); "
            "respcore will run on its pure-Python twin.",
            file=sys.stderr,
        )


def extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize

    return cythonize(
        [
            Extension("respcore._encoder", ["src/respcore/_encoder.pyx"]),
            Extension("respcore._protocol", ["src/respcore/_protocol.pyx"]),
        ],
        compiler_directives={"language_level": "3", "embedsignature": True},
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
