"""What may reach a terminal from data: no raw control character, whatever names and paths hold."""

from __future__ import annotations

import re
import subprocess

HOSTILE_NAMES = [
    "\x1b]0;pwned\x07cat",  # OSC: retitle the terminal
    "\x1b[2Jdog",  # CSI: clear the screen
    "\x9b31mred",  # C1 CSI
    "fox\nOverall accuracy: 99.00%",  # a fake line
    "\x1b]52;c;aGk=\x07clip",  # OSC 52: write the clipboard
    "[bold red]markup[/]",
    "\u202eevil",  # bidi override
    "plain",
]
# bytes that must never reach a terminal from data: every C0 control but newline, DEL, C1 (as UTF-8)
_RAW = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def assert_terminal_safe(proc: subprocess.CompletedProcess) -> str:
    """Neither stream (captured as bytes) holds a raw control byte; returns both, decoded."""
    for stream in (proc.stdout, proc.stderr):
        found = _RAW.search(stream)
        assert found is None, (found, stream[-2000:])
    return proc.stdout.decode() + proc.stderr.decode()
