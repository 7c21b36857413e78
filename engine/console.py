"""What the commands put on a terminal: lines made safe to print, and the one progress bar.

Class names, folder names, paths and cache metadata come from files other people wrote. Printed raw, an
ESC, OSC or CSI sequence in a class name retitles the terminal, clears it, recolours what follows, fakes a
line such as an accuracy figure, or (OSC 52) writes the clipboard; a `[` in a folder name is Rich markup.
So everything the engine and the TUI show passes `visible()`, which turns every control character into a
visible escape (`\\x1b`), and is printed as plain Rich Text, never parsed as markup. Report files keep the
real strings; only what reaches a terminal is escaped.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Union

from rich.console import Console
from rich.text import Text

from engine.errors import UserError

# C0 controls (newline and tab too: a name must not start a line of its own), DEL, C1 controls, the
# Unicode line and paragraph separators, the bidirectional embeddings, overrides and isolates (they
# reorder what is shown), and lone surrogates (they cannot be written to a terminal at all)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: Any) -> str:
    """`str(value)` with every control character shown as an escape: safe to put on a terminal."""
    return _UNSAFE.sub(_escape, str(value))


def visible_tree(value: Any) -> Any:
    """A JSON-like value (metadata) with every string in it, keys included, made visible()."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(k): visible_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [visible_tree(v) for v in value]
    return value


Part = Union[str, tuple[str, str]]  # plain text, or (text, Rich style)


def line(*parts: Part) -> Text:
    """One line of terminal text from parts; every part is made visible(), none is parsed as markup."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(visible(part[0]), style=part[1])
        else:
            text.append(visible(part))
    return text


def say(console: Console, *parts: Part) -> None:
    """Print one line (see line()); call it once per line, so no string from data can start a new one.
    A stream that refuses the line (stdout on a full disk, /dev/full) is one sentence, not a traceback."""
    try:
        console.print(line(*parts), markup=False, highlight=False)
    except OSError as exc:
        which = "standard error" if console.stderr else "standard output"
        if not console.stderr:
            discard_unwritable_stdout()
        raise UserError(f"Could not write to {which}: {exc.strerror or type(exc).__name__}.") from None


def tolerate_unencodable_output() -> None:
    """Let stdout and stderr escape what their encoding cannot write (`PYTHONIOENCODING=ascii`, a C locale)
    as `\\xfc`, instead of failing on the first class name with an accent."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (OSError, ValueError):
                pass


def discard_unwritable_stdout() -> bool:
    """Flush stdout; if the stream refuses (a full disk), point it at the null device so that the
    interpreter's own last flush has nothing to fail on. True if stdout was refused."""
    try:
        sys.stdout.flush()
        return False
    except OSError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        return True


def say_error(console: Console, message: str) -> None:
    """The one-sentence error every command ends with: 'Error: ' in bold red, then the message."""
    say(console, ("Error: ", "bold red"), message)


def say_warning(console: Console, message: str) -> None:
    say(console, (message, "yellow"))


Advance = Callable[..., None]  # advance(n, note="")


@contextmanager
def progress_bar(description: str, total: int, console: Console | None = None, unit: str = "img",
                 show: bool = True) -> Iterator[Advance]:
    """A rich bar on stderr for one long step: `advance(n, note="")` moves it by n and shows a per-second
    rate and the latest note (e.g. the file just written). Nothing is parsed as markup. With show=False
    (or a console that is not a terminal and not recording) nothing is drawn."""
    if not show:
        yield lambda n, note="": None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}", markup=False),
        console=console or Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(visible(description), total=total, rate="", note="")

        def advance(n: int, note: str = "") -> None:
            done = progress.tasks[0].completed + n
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=n, rate=f"{rate:,.0f} {unit}/s", note=visible(note))

        yield advance
