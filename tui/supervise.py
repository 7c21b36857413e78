"""The app runs in a child process watched by its parent, so a crash the app cannot catch still leaves the
terminal usable and says what happened in one sentence.

The cache's members are memory-mapped: a member truncated or replaced on disk while the app reads it is a
SIGBUS, which no Python code can catch, and the process dies in the alternate screen with mouse tracking
on. Here the parent (which does nothing but wait) saw the terminal's settings before the app changed them;
when the child dies by a signal it puts them back, leaves the alternate screen, turns mouse tracking and
the other modes Textual sets off, and prints why. SIGTERM and SIGHUP sent to the parent are passed to the
app, which quits as `q` does; SIGINT (Ctrl-C outside raw mode) is the child's to handle. Where there is no
terminal or no fork (Windows), the app runs in this process.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable

# what Textual's Linux driver turns on, turned off: mouse modes, bracketed paste, in-band resize, focus
# events, the kitty keyboard protocol; then out of the alternate screen, cursor shown, attributes reset
RESTORE = ("\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1016l\x1b[?2004l\x1b[?2048l\x1b[?1004l"
           "\x1b[<u\x1b[?1049l\x1b[?25h\x1b[0m")
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


def why(sig: int) -> str:
    """The sentence for an app killed by `sig`."""
    if sig == signal.SIGBUS:
        return "the cache changed on disk while it was read (SIGBUS: a member was truncated); the terminal is restored"
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
    return f"the app was stopped by {name}; the terminal is restored"


def restore_terminal(fd: int, saved: list | None) -> None:
    try:
        os.write(fd, RESTORE.encode())
    except OSError:
        pass
    if saved is not None:
        import termios

        try:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
        except (OSError, termios.error):
            pass


def supervised(run: Callable[[], int]) -> int:
    """run() in a child process (its return value is the exit code); the exit code, 128 + the signal when
    the child died by one (after restoring the terminal and saying why on stderr)."""
    fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else -1
    if not hasattr(os, "fork") or fd < 0 or not os.isatty(fd):
        return run()
    saved = None
    try:
        import termios

        saved = termios.tcgetattr(fd)
    except Exception:  # noqa: BLE001 - a terminal without termios settings: restore the modes only
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the app
        code = 1
        try:
            code = run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - printed as Python would, then the exit code
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(pid, os.WUNTRACED)
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for old interpreters
            continue
        if os.WIFSTOPPED(status):  # the app was suspended: so is this process, and both resume together
            os.kill(os.getpid(), signal.SIGSTOP)
            os.kill(pid, signal.SIGCONT)
            continue
        break
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        restore_terminal(fd, saved)
        print(f"gradcam-tui: {why(sig)}.", file=sys.stderr)
        return 128 + sig
    return os.WEXITSTATUS(status)
