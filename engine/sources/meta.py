"""An arrays folder's meta.json, read and checked field by field.

    {"fine_label_names": ["apple", ...],          (or "class_names") the classes, in label order
     "coarse_label_names": ["fruit", ...],        optional: the superclasses
     "fine_to_coarse": [4, ...]}                  optional: each class's superclass index

Other keys are ignored. The file is someone else's: a list instead of an object, names that are not
strings, a string instead of a list (which would otherwise become one class per character), a table too
short, with negative or out-of-range indices, or nesting deep enough to exhaust the parser, is one
sentence naming the file and the field, before the pass starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError

MAX_META_BYTES = 64 << 20  # far above any real class list; a larger file is not a meta.json


@dataclass(frozen=True)
class ArraysMeta:
    names: list[str]
    coarse_names: list[str] | None
    fine_to_coarse: np.ndarray | None  # int64 (C,), checked against coarse_names


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _name_list(doc: dict, key: str, path: Path) -> list[str] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        what = _kind(value) if not isinstance(value, list) else "a list with " + _kind(
            next(v for v in value if not isinstance(v, str))) + " in it"
        raise UserError(f"{path}: {key!r} must be a list of names (strings), but it is {what}.")
    if not value:
        raise UserError(f"{path}: {key!r} is an empty list; give one name per class.")
    seen: dict[str, int] = {}
    for i, name in enumerate(value):
        if name in seen:
            raise UserError(f"{path}: {key!r} names {name!r} twice (entries {seen[name]} and {i}); names must differ.")
        seen[name] = i
    return list(value)


def _index_table(doc: dict, path: Path, n: int, n_coarse: int) -> np.ndarray:
    value = doc["fine_to_coarse"]
    if not isinstance(value, list):
        raise UserError(f"{path}: 'fine_to_coarse' must be a list of superclass indices, but it is {_kind(value)}.")
    bad = next((i for i, v in enumerate(value) if not isinstance(v, int) or isinstance(v, bool)), None)
    if bad is not None:
        raise UserError(f"{path}: 'fine_to_coarse' must be a list of superclass indices (whole numbers), but entry "
                        f"{bad} is {json.dumps(value[bad])[:40]}.")
    if len(value) != n:
        raise UserError(f"{path}: 'fine_to_coarse' has {len(value)} entries but there are {n} classes; give one "
                        "superclass index per class.")
    bad = next((i for i, v in enumerate(value) if not 0 <= v < n_coarse), None)
    if bad is not None:
        raise UserError(f"{path}: 'fine_to_coarse' gives class {bad} the superclass {value[bad]}, but there are "
                        f"{n_coarse} superclass names (indices 0..{n_coarse - 1}).")
    return np.asarray(value, dtype=np.int64)


def read_meta(path: Path) -> ArraysMeta:
    """meta.json at `path`, every field it uses checked (UserError naming the field)."""
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise UserError(f"{path} is {path.stat().st_size:,} bytes, too large to be an arrays folder's meta.json.")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Could not read {path}: {exc}.") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise UserError(f"{path} is nested too deeply to be an arrays folder's meta.json.") from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}).") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path} holds {_kind(doc)}, not a JSON object with 'fine_label_names'.")
    key = "fine_label_names" if "fine_label_names" in doc else "class_names"
    names = _name_list(doc, key, path)
    if names is None:
        raise UserError(f"{path} has no 'fine_label_names' (or 'class_names') list.")
    coarse = _name_list(doc, "coarse_label_names", path)
    table = None
    if doc.get("fine_to_coarse") is not None:
        if coarse is None:
            raise UserError(f"{path} has 'fine_to_coarse' but no 'coarse_label_names' to index; add the names or "
                            "drop the table.")
        table = _index_table(doc, path, len(names), len(coarse))
    return ArraysMeta(names, coarse, table)
