"""``python -m monitor``: the same as the ``monitor`` command."""

from monitor.cli import main

main()
