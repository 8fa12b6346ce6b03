"""The compiled modules, monitor/matching/_columns.pyx and _sentences.pyx; everything else is in
pyproject.toml.

Optional: without a C/C++ compiler the install goes on without them, and the scan reads the
same columns through numpy (monitor/matching/columns.py), the snippets find the same sentences
through regular expressions (monitor/matching/snippet.py).
"""

import numpy
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "monitor.matching._columns",
            ["monitor/matching/_columns.pyx"],
            language="c++",  # spaCy's headers declare C++ containers
            include_dirs=[numpy.get_include()],  # spaCy's headers cimport numpy
            optional=True,
        ),
        Extension("monitor.matching._sentences", ["monitor/matching/_sentences.pyx"], optional=True),
    ]
)
