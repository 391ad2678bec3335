"""The ``vvolguard`` command: one typer app, one module per sub-command.

Each module under ``vvolguard.cli`` listed in :data:`COMMAND_MODULES` exposes
``register(app: typer.Typer) -> None`` and registers the one command named like the module. The
root group imports a command's module only when that command is looked up: ``vvolguard diagnose``
imports and builds ``diagnose`` alone, not the simulator's, drain's or escalation's ~80 options,
while ``--help`` and "did you mean" still see every command. ``run`` is the console entry point:
it turns any unexpected exception into a one-line message (no traceback reaches a user) unless
``VVOLGUARD_DEBUG=1`` asks for the traceback.

Help is click's plain layout (``rich_markup_mode=None``): option names are never cut, help text is
never read as markup or emoji (``START:END:FACTOR`` stays itself), and every value an option takes
is named the way a vSphere admin reads it (``HOST``, ``FILE``, ``N``; see :func:`readable_help`),
never by a Python type.
"""

from __future__ import annotations

import functools
import gc
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info

#: Commands in the order ``--help`` lists them: typer lists plain commands before command groups
#: (``schema`` and ``simulate`` are groups), so this is the order an eager registration showed.
COMMAND_MODULES = (
    "diagnose",
    "demo",
    "escalate",
    "drain",
    "limits",
    "watch",
    "collect",
    "validate",
    "lab",
    "fleet",
    "schema",
    "simulate",
)

#: True while :func:`run` keeps the garbage collector off for start-up (see :func:`end_startup`).
_startup_gc_off = False


def end_startup() -> None:
    """Turn the collector back on, with everything imported so far frozen out of its passes.

    Start-up allocates a few hundred thousand objects (modules, classes, typer's and polars'
    tables) that live as long as the process; collecting while they pile up finds nothing to free
    and cost ~50 ms of a short ``diagnose``. :func:`run` (the console entry, never an in-process
    caller) turns the collector off; the command's callback turns it on before doing any work, so
    reading evidence runs with normal collection and memory stays bounded.
    """
    global _startup_gc_off
    if _startup_gc_off:
        _startup_gc_off = False
        _keep_block_buffers()  # a command is about to work (not --help): tune the heap for it
        gc.freeze()
        gc.enable()


def _after_startup(callback: Callable[..., Any], module: Any) -> Callable[..., Any]:
    """Wrap a command callback: import the module's ``RUN_IMPORTS`` (still start-up), then
    :func:`end_startup`, then run the command."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _startup_gc_off:
            for name in getattr(module, "RUN_IMPORTS", ()):
                importlib.import_module(name)
            end_startup()
        return callback(*args, **kwargs)

    return wrapper


#: The value name an option shows when its declaration gives none: what a person types, not the
#: Python type that holds it. Options declare their own (``metavar="HOST"``); this is the net.
_FALLBACK_METAVAR: dict[type, str] = {int: "N", float: "NUMBER", str: "TEXT", Path: "PATH"}


def _metavar(param: Any) -> str:
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    annotation = desc.annotation
    for arg in getattr(annotation, "__args__", ()) or ():  # list[Path] -> Path
        annotation = arg
    return _FALLBACK_METAVAR.get(annotation, "VALUE")


def _range_text(low: float | None, high: float | None) -> str | None:
    def num(x: float) -> str:
        return f"{x:g}"

    if low is not None and high is not None:
        return f"{num(low)} to {num(high)}"
    if low is not None:
        return f"at least {num(low)}"
    if high is not None:
        return f"at most {num(high)}"
    return None


#: One line per command for the root ``--help``: click would cut each command's help at the
#: terminal width with "...", mid-sentence. These fit in 80 columns beside the longest name.
SHORT_HELP: dict[str, str] = {
    "diagnose": "Name why vVol migrations failed, with the evidence and next moves.",
    "demo": "Simulate a saturating evacuation, then diagnose it.",
    "escalate": "Build one archive for the storage vendor, secrets stripped.",
    "drain": "Empty a host a few VMs at a time, as fast as the provider allows.",
    "limits": "Show the safe concurrency earlier drains found.",
    "watch": "Serve the VASA control plane's signals as Prometheus metrics.",
    "schema": "Print the JSON Schemas of the machine-readable outputs.",
    "simulate": "Write a simulated incident's evidence, or sweep concurrency.",
    "collect": "Gather a case folder from vCenter and the hosts, read-only.",
    "validate": "Check a host layer by layer after remediation (runbook).",
    "lab": "Serve a simulated vCenter with an incident, to try the live commands.",
    "fleet": "Read an estate's VASA history on Dask: pressure, incidents, limits.",
}


def readable_help(command: Any) -> Any:
    """Name every option's value for a person, in ``command`` and its sub-commands.

    Flags show no value at all (click's plain help prints none for them); an option without an
    explicit ``metavar`` gets one from :data:`_FALLBACK_METAVAR` or its choices; a number range
    reads ``2 to 64`` instead of ``2<=x<=64``; a list argument shows as ``PATH...`` in the usage
    line instead of ``{paths}...``; a top-level command gets its :data:`SHORT_HELP` line.
    """
    if getattr(command, "short_help", None) is None and command.name in SHORT_HELP:
        command.short_help = SHORT_HELP[command.name]
    for param in getattr(command, "params", ()):
        flag = getattr(param, "is_flag", False)
        if param.metavar is None and not flag:
            param.metavar = _metavar(param)
        if hasattr(param, "min") and (param.min is not None or param.max is not None):
            text = _range_text(param.min, param.max)
            param._get_number_range_help_str = lambda text=text: text
        if param.param_type_name == "argument":
            shown = param.metavar + ("..." if param.nargs != 1 else "")
            usage = shown if param.required else f"[{shown}]"
            param._usage_display_name = lambda usage=usage: usage
            param._rich_display_name = lambda shown=shown: shown
            param.display_type_rich = lambda ctx: None  # the name says it: no "<list[Path]>"
    for sub in getattr(command, "commands", {}).values():
        readable_help(sub)
    return command


def _wrap_callbacks(command: Any, module: Any) -> Any:
    if command.callback is not None:
        command.callback = _after_startup(command.callback, module)
    for sub in getattr(command, "commands", {}).values():
        _wrap_callbacks(sub, module)
    return command


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
                return readable_help(_wrap_callbacks(command, module))
        for group_info in holder.registered_groups:
            group = get_group_from_info(
                group_info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
                suggest_commands=self.suggest_commands,
            )
            if group.name == name:
                return readable_help(_wrap_callbacks(group, module))
        raise LookupError(f"vvolguard.cli.{name}.register() declared no command named {name!r}")


app = typer.Typer(
    name="vvolguard",
    help="Diagnose, simulate and safely drain vSphere hosts whose VMs live on vVol datastores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


#: jemalloc options for polars' allocator, set by :func:`run` before polars is first imported.
#: polars asks jemalloc to give freed pages back to the system after 0.5-1 s; a diagnose frees
#: and reallocates its block-sized buffers several times a second, so each one was faulted in
#: again (measured: ~35 000 fewer page faults and ~0.1 s less system time per 512 MiB with
#: these). Ten seconds is jemalloc's own default, so a long ``watch`` still returns memory.
#: polars appends a user's own ``_RJEM_MALLOC_CONF`` after its defaults, so setting it here only
#: when the user did not keeps theirs in force.
_JEMALLOC_CONF = "dirty_decay_ms:10000,muzzy_decay_ms:10000"

#: typer builds a pydantic TypeAdapter per option, and pydantic's first one scans every installed
#: package's entry points for plugins (importlib.metadata: ~10-20 ms of each run's start-up).
#: vvolguard uses no pydantic plugins; a user who sets the variable keeps their choice.
_PYDANTIC_PLUGINS = ("PYDANTIC_DISABLE_PLUGINS", "__all__")


def _keep_block_buffers() -> None:
    """Ask glibc to serve block-sized buffers from its heap and keep freed ones for reuse.

    By default every allocation over 128 KiB-32 MiB (the threshold adapts) is a fresh ``mmap``
    that is unmapped on free, so each block the vvold reader reads, and each copy of it, faults
    its pages in again: measured ~90 000 extra page faults and ~0.25 s of system time per
    512 MiB. The heap stays bounded by the blocks in flight. Process-wide, so only the console
    entry point does it: a library caller's process is left as it was. Other C libraries simply
    keep their defaults.
    """
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_TRIM_THRESHOLD, 256 * 1024 * 1024)
    mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum on 64-bit


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def run() -> None:
    global _startup_gc_off
    if "polars" not in sys.modules:
        os.environ.setdefault("_RJEM_MALLOC_CONF", _JEMALLOC_CONF)
    os.environ.setdefault(*_PYDANTIC_PLUGINS)
    if gc.isenabled():
        gc.disable()  # until the command runs: see end_startup
        _startup_gc_off = True
    try:
        app()
    except KeyboardInterrupt:
        from vvolguard.cli.console import make_console, warn

        warn(make_console(stderr=True), "interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("VVOLGUARD_DEBUG") == "1":
            raise
        from vvolguard.cli.console import error, make_console, print_line

        err = make_console(stderr=True)
        error(err, f"internal error: {type(exc).__name__}: {exc}")
        print_line(err, "Set VVOLGUARD_DEBUG=1 to see the traceback, and please report it.")
        sys.exit(3)


if __name__ == "__main__":
    run()
