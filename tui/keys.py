"""The key map in one table: the help screen shows it and the tests check every key is really bound."""

from __future__ import annotations

# (where, keys, what)
KEYMAP: list[tuple[str, str, str]] = [
    ("anywhere", "1 2 3 4 5 6", "Overview · Classes · Class · Pairs · Recommendations · Suspects"),
    ("anywhere", "tab / shift+tab", "move focus"),
    ("anywhere", "w", "write the PNG of the class or pair on screen"),
    ("anywhere", "?", "this key list"),
    ("anywhere", "q", "quit"),
    ("Classes", "/", "filter by name as you type (Enter: to the table, Esc: clear)"),
    ("Classes", "s  r", "cycle the sort column · reverse it (or click a header)"),
    ("Classes", "↑ ↓  Enter", "move · open the class"),
    ("Class", "j k  → ←", "next · previous example"),
    ("Class", "t", "Grad-CAM target: predicted → other top-k → true class"),
    ("Class", "g", "go to the class this example was confused with"),
    ("Class", "p", "open this mistake's confused pair (when it is a top pair)"),
    ("Class", "] [", "next · previous class"),
    ("Class", "backspace", "back to the previous class"),
    ("Pairs", "↑ ↓", "choose a pair"),
    ("Pairs", "j k", "next · previous example of the pair"),
    ("Pairs", "g  G", "open the true · predicted class"),
    ("Suspects", "↑ ↓  Enter", "move · show the image with the Grad-CAMs of the given and suggested label"),
]

# Shown in the key list only when the app was started with two caches (gradcam-tui OLD NEW).
COMPARE_KEYMAP: list[tuple[str, str, str]] = [
    ("anywhere", "7", "Compare: this run against the older cache"),
    ("Compare", "s  r", "cycle the sort column · reverse it (or click a header)"),
    ("Compare", "↑ ↓  Enter", "move · open the class in the Class view of the new run"),
]
