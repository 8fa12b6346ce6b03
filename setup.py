"""The optional compiled sentence scan: monitor/matching/_sentences.pyx.

The default install is pure Python and needs no compiler: pyproject.toml's build
requirements are setuptools alone, so an isolated build (``pip install .``) finds
no Cython and builds no extension, and snippets find the same sentences by
regular expressions (monitor/matching/snippet.py).  To build it, install Cython
first and build without isolation:

    pip install Cython && pip install --no-build-isolation .

A failed compilation is not an error either (``optional=True``).
"""

from setuptools import Extension, setup


def compiled_scan() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    return cythonize(
        [Extension("monitor.matching._sentences", ["monitor/matching/_sentences.pyx"], optional=True)],
        language_level=3,
        quiet=True,
    )


setup(ext_modules=compiled_scan())
