"""Slim the image's virtualenv in the Dockerfile's build stage, before the final stage copies it.

Run with the venv's own interpreter after ``pip install``: ``python deploy/slim_venv.py``.
Only what the running daemon never reads goes, so the image stays small without changing
what it does (tests/test_image.py runs the result):

- the build tools (pip, setuptools, Cython): the image runs news-monitor, it installs nothing;
- the test suites that packages ship inside themselves (numpy, spaCy, thinc, ...), and
  what only a build or a type checker reads: Cython sources, C/C++ sources and headers, stubs;
- debug symbols of the extension modules (most of spaCy's and thinc's size).  Libraries that
  auditwheel vendored into ``*.libs`` folders are left alone: patchelf rewrote them, and a
  stripped copy may no longer load.  Every stripped module is loaded before it replaces the
  original, so a copy that the dynamic loader refuses keeps its symbols instead;
- bytecode of modules the daemon never imports: all ``__pycache__`` go, then every module of
  news-monitor is imported once so that what they import is compiled again (the image sets
  PYTHONDONTWRITEBYTECODE, so without this every start would compile them all in memory).
"""

from __future__ import annotations

import compileall
import ctypes
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

BUILD_TOOLS = ("pip", "setuptools", "Cython")
TEST_DIRS = frozenset({"tests", "test"})
BUILD_SOURCES = frozenset({".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".hpp", ".pyi"})


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def remove_build_tools() -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *BUILD_TOOLS],
        check=True,
    )


def remove_test_suites(site: Path) -> None:
    for folder in sorted(site.rglob("*"), reverse=True):
        if folder.name in TEST_DIRS and folder.is_dir() and folder.parent != site:
            shutil.rmtree(folder)


def remove_build_sources(site: Path) -> None:
    for source in site.rglob("*"):
        if source.suffix in BUILD_SOURCES and source.is_file():
            source.unlink()


def loads(library: Path) -> bool:
    try:
        ctypes.CDLL(str(library))
    except OSError as error:
        print(f"slim_venv: keeping the symbols of {library.name}: {error}", file=sys.stderr)
        return False
    return True


def strip_extension_modules(site: Path) -> None:
    strip = shutil.which("strip")
    if strip is None:
        print("slim_venv: no strip (binutils): extension modules keep their symbols", file=sys.stderr)
        return
    for module in sorted(site.rglob("*.so")):
        if module.is_symlink() or any(part.endswith(".libs") for part in module.parts):
            continue
        # Beside the original, so that $ORIGIN in its RPATH finds the same libraries.
        stripped = module.with_name(f".stripped.{module.name}")
        subprocess.run([strip, "--strip-unneeded", "-o", str(stripped), str(module)], check=True)
        if stripped.stat().st_size < module.stat().st_size and loads(stripped):
            os.replace(stripped, module)
        else:
            stripped.unlink()


def compile_what_runs(site: Path) -> None:
    for cache in sorted(site.rglob("__pycache__")):
        shutil.rmtree(cache)
    sys.dont_write_bytecode = False
    import monitor

    compileall.compile_dir(monitor.__path__[0], quiet=1)
    for module in pkgutil.walk_packages(monitor.__path__, "monitor."):
        if module.name.endswith(".__main__"):  # importing it would run the CLI
            continue
        try:
            importlib.import_module(module.name)
        except Exception as error:  # an optional extra not installed, a script run by alembic
            print(f"slim_venv: {module.name} compiled, not imported: {error!r}", file=sys.stderr)


def main() -> None:
    site = Path(sysconfig.get_path("purelib"))
    before = size_mb(Path(sys.prefix))
    remove_build_tools()
    remove_test_suites(site)
    remove_build_sources(site)
    strip_extension_modules(site)
    compile_what_runs(site)
    print(f"slim_venv: {sys.prefix}: {before:.0f} MB -> {size_mb(Path(sys.prefix)):.0f} MB")


if __name__ == "__main__":
    main()
