"""The key list, built from the views of the session: the app's own keys, then each view's HELP rows under
its title. The help screen shows it, and the tests check every key in it is really bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from tui.views.base import View

# the app's own keys besides the number keys: (keys, what)
APP_KEYS: list[tuple[str, str]] = [
    ("/", "open anything: a class, a pair (seal > otter), an image (#1234), a slice, the confusion matrix"),
    ("Esc  backspace", "back to where you were (along the history of what you opened)"),
    ("tab / shift+tab", "move focus"),
    ("w", "write the figure on screen as a PNG (tui_*.png: never a report file), and say where"),
    ("E", "export the label verdicts as label_reviews.csv (they are saved beside the cache as you go)"),
    ("?", "this key list"),
    ("q", "quit"),
]


def keymap(views: Sequence[type[View]]) -> list[tuple[str, str, str]]:
    """(where, keys, what) for every key of a session with these views, in tab order."""
    rows = [("anywhere", " ".join(v.KEY for v in views), " · ".join(v.TITLE for v in views))]
    rows += [("anywhere", keys, what) for keys, what in APP_KEYS]
    rows += [(v.TITLE, keys, what) for v in views for keys, what in v.HELP]
    return rows


def nothing_to_write(views: Sequence[type[View]]) -> str:
    """What `w` says where the screen shows no figure: which views have one, by their keys."""
    keys: dict[str, list[str]] = {}
    for v in views:
        if v.WRITES:
            keys.setdefault(v.WRITES, []).append(v.KEY)
    return "Open " + " or ".join(f"{_a(what)} ({' or '.join(k)})" for what, k in keys.items()) + " to write its PNG."


def _a(what: str) -> str:
    return ("an " if what[:1] in "aeiou" else "a ") + what
