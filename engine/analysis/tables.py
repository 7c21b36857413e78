"""Tables as numpy columns, with the pandas DataFrame built on first use.

Analyses return their tables as plain columns (name -> array or list, one entry per row), which is all
the TUI's first screen and the numbers need; pandas (~0.35 s to import) is paid only where a DataFrame is
asked for (sorting in the table views, the CSV writers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

Columns = dict[str, Any]


@dataclass(frozen=True, eq=False)
class Table:
    columns: Columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> Any:
        return self.columns[name]

    @cached_property
    def frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.columns)
