"""The one way the commands make a rich Console, so every command prints the same way.

Why a factory and not ``Console()`` in each command:

* **No emoji, no highlighting.** rich replaces ``:name:`` by an emoji (``START:END:FACTOR`` became
  ``START🔚FACTOR``) and colours numbers and paths it guesses at; evidence and the user's own
  arguments are full of colons and brackets, so both are off everywhere.
* **No hard wrapping when the output is not a terminal.** Piped into a file, a ticket or ``less``,
  rich would still break lines at 80 columns: suggested commands could no longer be pasted and paths
  were split mid-name. Off a terminal the console is as wide as any line (tables size to their
  content, text is never broken), so every line is whole. On a terminal the terminal's own width
  holds, and commands and paths are printed with ``soft_wrap`` (see :func:`print_line`) so the
  terminal folds them visually and a copy gives back one line.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

#: Off a terminal, lines are never broken: wider than any line the reports print.
UNWRAPPED_WIDTH = 100_000


def make_console(*, stderr: bool = False) -> Console:
    """A Console for ``stdout`` (or ``stderr``) with the project's settings (see module doc)."""
    console = Console(stderr=stderr, emoji=False, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, emoji=False, highlight=False, width=UNWRAPPED_WIDTH, soft_wrap=True)
    return console


def print_line(console: Console, text: str | Text, *, style: str = "", indent: int = 0) -> None:
    """One line that must never be broken (a command, a path, a cited log line): printed as plain
    text (no markup, no emoji), soft-wrapped, so a terminal folds it only for the eye."""
    line = text if isinstance(text, Text) else Text(text, style=style)
    if indent:
        line = Text(" " * indent) + line
    console.print(line, soft_wrap=True, markup=False, emoji=False, highlight=False)


def error(console: Console, message: str) -> None:
    """``vvolguard: message`` in red; the message is never read as markup (it echoes user input)."""
    print_line(console, Text(f"vvolguard: {message}", style="red"))


def warn(console: Console, message: str) -> None:
    """Like :func:`error`, in yellow, for what the command did anyway."""
    print_line(console, Text(message, style="yellow"))
