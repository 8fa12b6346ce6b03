"""The optional compiled scan: monitor/matching/_columns.pyx and _sentences.pyx.

The default install is pure Python and needs no compiler: pyproject.toml's build
requirements are setuptools alone, so an isolated build (``pip install .``) finds
no Cython and builds no extension, and the scan reads the same columns through
numpy (monitor/matching/columns.py) and finds the same sentences by regular
expressions (monitor/matching/snippet.py).  To build them, install Cython
first and build without isolation, beside the installed spaCy whose headers
_columns.pyx compiles against:

    pip install Cython && pip install --no-build-isolation .

A failed compilation is not an error either (``optional=True``).
"""

from setuptools import Extension, setup


def compiled_scan() -> list[Extension]:
    try:
        import numpy
        import spacy  # noqa: F401  (its headers are found through its package folder)
        from Cython.Build import cythonize
    except ImportError:
        return []
    return cythonize(
        [
            Extension(
                "monitor.matching._columns",
                ["monitor/matching/_columns.pyx"],
                language="c++",  # spaCy's headers declare C++ containers
                include_dirs=[numpy.get_include()],  # spaCy's headers cimport numpy
                optional=True,
            ),
            Extension("monitor.matching._sentences", ["monitor/matching/_sentences.pyx"], optional=True),
        ],
        language_level=3,
        quiet=True,
    )


setup(ext_modules=compiled_scan())
