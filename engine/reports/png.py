"""A minimal, fast PNG encoder for 8-bit RGB arrays (numpy + zlib).

Pillow's encoder spends most of its time choosing a row filter; our sheets are mostly flat colour and
nearest-neighbour enlarged pixels, which zlib compresses well unfiltered, so this is ~4x faster for files of
the same size (level 3: ~20 ms for a 1.3-megapixel class sheet). The output is a standard PNG (any reader).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rgb: np.ndarray, level: int = 3) -> bytes:
    """PNG bytes of a uint8 (H, W, 3) image; every row uses filter 0 (none)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    h, w, _ = rgb.shape
    rows = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # column 0: the filter byte of each row
    rows[:, 1:] = rgb.reshape(h, 3 * w)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(
        b"IEND", b""
    )
