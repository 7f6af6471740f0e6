"""CLI output that does not depend on the terminal.

On a terminal the commands draw with Rich (colour, tables, progress bars). Anywhere else (a
pipe, a file, CI) Rich would wrap and truncate to an assumed 80 columns (or ``$COLUMNS``), so
``tokenomist ask … | cat`` showed ``analytics/nightly-s…``: there every line is plain, every
value whole, and tables are tab-separated rows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from tokenomist.kit.masking import mask_secrets

# Wide enough that Rich never wraps a line it is given; soft_wrap keeps it from padding.
_PLAIN_WIDTH = 100_000
PLAIN_HELP_WIDTH = 100


def is_tty(stream: IO[Any] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, AttributeError):  # a closed or file-like stream
        return False


def interactive() -> bool:
    """Both streams are a terminal: only then is Rich's layout (panels, bars) wanted."""
    return is_tty(sys.stdout) and is_tty(sys.stderr)


def typer_options() -> dict[str, Any]:
    """Settings for every ``typer.Typer`` of the CLI: Rich panels and pretty tracebacks only
    on a terminal. Elsewhere a usage error is click's plain ``Error: …`` line, unwrapped (a
    panel 80 columns wide split a long path, and the phrase a script looks for, in two)."""
    rich = interactive()
    options: dict[str, Any] = {
        "rich_markup_mode": "rich" if rich else None,
        "pretty_exceptions_enable": rich,
    }
    if not rich:
        # click's plain help otherwise sizes itself (and cuts short help) by $COLUMNS.
        width = {"terminal_width": PLAIN_HELP_WIDTH, "max_content_width": PLAIN_HELP_WIDTH}
        options["context_settings"] = width
    return options


class MaskingConsole(Console):
    """Messages quote URLs and errors (``no server at http://u:pw@host``): masked."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(mask_secrets(o) if isinstance(o, str) else o for o in objects), **kwargs)


def console(*, stderr: bool = False) -> Console:
    """A Console for stdout (or stderr) that is plain unless that stream is a terminal.

    Built when called, not at import, so it sees the streams the process really has."""
    stream = sys.stderr if stderr else sys.stdout
    if is_tty(stream):
        return MaskingConsole(stderr=stderr)
    return MaskingConsole(
        stderr=stderr,
        width=_PLAIN_WIDTH,
        soft_wrap=True,
        no_color=True,
        highlight=False,
        emoji=False,
        force_terminal=False,
    )


def print_table(
    out: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
    *, right: Sequence[str] = (),
) -> None:  # fmt: skip
    """A Rich table on a terminal; elsewhere the title line, then one tab-separated line for
    the header and for each row (full values, easy to ``cut``/``awk``)."""
    if is_tty(out.file):
        table = Table(title=title)
        for col in columns:
            table.add_column(col, justify="right" if col in right else "left")
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    lines = [title, "\t".join(columns), *("\t".join(_cell(c) for c in row) for row in rows)]
    # Straight to the stream: Rich would expand the tabs to spaces.
    out.file.write("\n".join(lines) + "\n")
    out.file.flush()


def _cell(value: str) -> str:
    return str(value).replace("\t", " ").replace("\n", " ")
