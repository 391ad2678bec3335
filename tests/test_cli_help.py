"""Help as a vSphere admin reads it: value names, whole option names, no emoji, every exit code.

Each command's ``--help`` runs in a fresh process with stdout a pipe (not a terminal) at 80
columns, the narrowest common width, as it would be pasted into a ticket.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer.main

from vvolguard.cli import main

COMMANDS = [
    ("diagnose",),
    ("demo",),
    ("escalate",),
    ("drain",),
    ("limits",),
    ("schema",),
    ("simulate",),
    ("simulate", "sweep"),
    ("lab",),
]

#: Python type names as typer shows them (``<bool>``, ``<list[Path]>``, ``<int range>``), a
#: required-argument brace (``{paths}...``), a cut name (``…``) and click's range notation.
PROGRAMMER_TEXT = re.compile(r"<(?:bool|int|float|str|path|list)\b|list\[|\{\w+\}|…|\bx\s*[<>]=")
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]")


def help_text(*command: str, columns: int = 80) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "vvolguard.cli.main", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": str(columns), "TERMINAL_WIDTH": str(columns)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def command_object(*names: str) -> typer.main.TyperGroup:
    cmd = typer.main.get_command(main.app)
    ctx = typer.Context(cmd)
    for name in names:
        cmd = cmd.get_command(ctx, name)  # type: ignore[attr-defined]
    return cmd  # type: ignore[return-value]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_names_values_for_people_and_never_cuts_a_name(command: tuple[str, ...]) -> None:
    text = help_text(*command)
    assert not PROGRAMMER_TEXT.search(text), PROGRAMMER_TEXT.search(text)
    assert not EMOJI.search(text), EMOJI.search(text)
    for param in command_object(*command).params:
        for opt in [*param.opts, *param.secondary_opts]:
            if opt.startswith("--"):
                # whole, at the start of its row, followed by its value name (none for a flag)
                row = re.search(rf"^\s+(?:-\w, )?{re.escape(opt)}(?: (\S+))?(?:\s|$)", text, re.M)
                assert row, (opt, text)
                if getattr(param, "is_flag", False):
                    assert row.group(1) is None or not row.group(1).isupper(), (opt, row.group(0))
                else:
                    assert row.group(1) and re.fullmatch(r"[A-Z0-9_:=\[\].|a-z-]+", row.group(1)), (
                        opt,
                        row.group(0),
                    )


def test_help_keeps_colon_separated_value_names_literally() -> None:
    """``:end:`` must not become an emoji (it did: ``START🔚FACTOR``)."""
    for command in (("simulate",), ("simulate", "sweep")):
        text = help_text(*command)
        assert "--slowdown START:END:FACTOR" in text
        assert "--storm START:END:OPS_PER_S[:OP]" in text


def test_diagnose_help_lists_every_exit_code() -> None:
    text = " ".join(help_text("diagnose").split())
    for code in ("0 diagnosed", "1 --fail-on matched", "2 nothing usable", "3 internal error"):
        assert code in text


def test_help_in_a_wide_pipe_and_a_narrow_one_shows_the_same_options() -> None:
    narrow, wide = help_text("drain", columns=60), help_text("drain", columns=200)
    options = re.compile(r"^\s+(--[\w-]+)", re.M)
    assert options.findall(narrow) == options.findall(wide)
    assert "--ssh-no-host-key-check" in narrow
    assert "administrator@vsphere.local" in narrow  # a default is wrapped, never cut


def test_root_help_lists_each_command_with_an_uncut_line() -> None:
    text = help_text()
    commands = text[text.index("Commands:") :].splitlines()[1:]
    names = [line.split()[0] for line in commands if line.startswith("  ") and not line.startswith("    ")]
    assert names == list(main.COMMAND_MODULES)
    assert not any(line.rstrip().endswith(("...", "…")) for line in commands)
