"""A click group that imports a command's module only when that command runs.

Importing every command module up front made ``monitor hits`` pay for the daemon's imports
(SQLAlchemy through the run lock, the web app, the matcher's helpers). The group lists its
commands from a table of names, modules and one-line summaries, so ``monitor --help`` shows
them all without importing any; tests/test_cli_startup.py holds the table to the commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command lives, and the summary ``--help`` shows for it: its docstring's first sentence."""

    module: str
    attribute: str
    summary: str


class LazyGroup(click.Group):
    """Commands from ``lazy``, imported on first use; ``prepare`` runs once on each loaded command."""

    def __init__(
        self,
        *args: Any,
        lazy: Mapping[str, LazyCommand],
        prepare: Callable[[click.Command], None] = lambda _command: None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)
        self.prepare = prepare

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            entry = self.lazy[cmd_name]
            command = getattr(importlib.import_module(entry.module), entry.attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{entry.module}.{entry.attribute} is not a click command")
            self.prepare(command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing, from the table's summaries for the commands not loaded yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if not loaded.hidden:
                    rows.append((name, loaded.get_short_help_str(limit)))
            else:  # cut as click cuts a command's own help
                stand_in = click.Command(name, help=self.lazy[name].summary)
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
