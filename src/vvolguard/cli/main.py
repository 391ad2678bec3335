"""The ``vvolguard`` command: one typer app, one module per sub-command.

Each module under ``vvolguard.cli`` listed in :data:`COMMAND_MODULES` exposes
``register(app: typer.Typer) -> None`` and registers the one command named like the module. The
root group imports a command's module only when that command is looked up: ``vvolguard diagnose``
imports and builds ``diagnose`` alone, not the simulator's, drain's or escalation's ~80 options,
while ``--help`` and "did you mean" still see every command. ``run`` is the console entry point:
it turns any unexpected exception into a one-line message (no traceback reaches a user) unless
``VVOLGUARD_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info

#: Commands in the order ``--help`` lists them: typer lists plain commands before command groups
#: (``schema`` and ``simulate`` are groups), so this is the order an eager registration showed.
COMMAND_MODULES = ("diagnose", "demo", "escalate", "drain", "limits", "schema", "simulate")


class LazyCommands(MutableMapping[str, Any]):
    """The root group's ``commands``: names known up front, each command built on first lookup.

    ``keys()`` (typer's "did you mean" suggestions) needs no import; ``get(name)`` (running a
    command) imports that one module; ``items()`` (``--help``) imports them all. A module that does
    not exist is left out, as a command not built yet must not break the others.
    """

    def __init__(self, group: LazyGroup, names: tuple[str, ...]) -> None:
        self._group = group
        self._built: dict[str, Any] = dict.fromkeys(names)
        self._missing: set[str] = set()

    def _present(self, name: str) -> bool:
        if name not in self._built or name in self._missing:
            return False
        if self._built[name] is None and importlib.util.find_spec(f"vvolguard.cli.{name}") is None:
            self._missing.add(name)
            return False
        return True

    def __getitem__(self, name: str) -> Any:
        if not self._present(name):
            raise KeyError(name)
        command = self._built[name]
        if command is None:
            command = self._built[name] = self._group.build_command(name)
        return command

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        self._missing.discard(name)

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in list(self._built) if self._present(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LazyGroup(TyperGroup):
    """The root group; see :class:`LazyCommands`. Commands are built exactly as typer's eager
    ``get_group`` builds them, from what each module's ``register`` declares."""

    def __init__(self, *, commands: Any = None, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = LazyCommands(self, COMMAND_MODULES)
        lazy.update(commands or {})  # anything registered on ``app`` itself, built by typer already
        self.commands = lazy

    def build_command(self, name: str) -> Any:
        module = importlib.import_module(f"vvolguard.cli.{name}")
        holder = typer.Typer()
        module.register(holder)
        for info in holder.registered_commands:
            command = get_command_from_info(
                info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
            )
            if command.name == name:
                return command
        for group_info in holder.registered_groups:
            group = get_group_from_info(
                group_info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
                suggest_commands=self.suggest_commands,
            )
            if group.name == name:
                return group
        raise LookupError(f"vvolguard.cli.{name}.register() declared no command named {name!r}")


app = typer.Typer(
    name="vvolguard",
    help="Diagnose, simulate and safely drain vSphere hosts whose VMs live on vVol datastores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from vvolguard import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        from rich.console import Console

        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("VVOLGUARD_DEBUG") == "1":
            raise
        from rich.console import Console

        Console(stderr=True).print(
            f"[red]vvolguard: internal error:[/] {type(exc).__name__}: {exc}\n"
            "Set VVOLGUARD_DEBUG=1 to see the traceback, and please report it."
        )
        sys.exit(3)


if __name__ == "__main__":
    run()
