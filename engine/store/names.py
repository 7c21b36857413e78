"""Class and superclass names as the cache holds them: valid Unicode, whatever the data set's files held.

A folder name that is not valid UTF-8 reaches Python with each bad byte as a lone surrogate
(`\\udcff`), and JSON can spell one (`"\\ud800"`). A lone surrogate has no UTF-8 form, so no CSV, HTML page,
figure or terminal can take it: the first report that names such a class would fail. So every name that
enters the cache (from a source, or from a cache file someone else wrote) has each lone surrogate written
as its escape, the text a terminal shows for it (engine.console.visible).
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_name(name: str) -> str:
    """`name` with every lone surrogate replaced by its escape (`\\udcff`); any other name unchanged."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
