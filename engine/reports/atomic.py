"""Atomic writes for the report files (shared with the cache writer in engine.atomic)."""

from engine.atomic import atomic_path, write_bytes, write_text

__all__ = ["atomic_path", "write_bytes", "write_text"]
