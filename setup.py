"""The one compiled module, monitor/matching/_columns.pyx; everything else is in pyproject.toml.

Optional: without a C++ compiler the install goes on without it, and the scan reads the same
columns through numpy (monitor/matching/columns.py).
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
        )
    ]
)
