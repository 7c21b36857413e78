"""`gradcam-tui [CACHE] [--out DIR]`: load the cache (one clear sentence and exit 2 if it cannot), then run.

The cache is loaded before Textual is imported, so a bad path fails fast, and nothing here or below imports
torch (checked by import-linter and by a test).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from engine.cache import DEFAULT_CACHE

    p = argparse.ArgumentParser(
        prog="gradcam-tui",
        description="Browse a gradcam cache: classes, confused pairs and Grad-CAM heatmaps in the terminal.",
    )
    p.add_argument("cache", nargs="?", default=str(DEFAULT_CACHE), help=f"cache file (default: {DEFAULT_CACHE})")
    p.add_argument(
        "--out", type=Path, default=None, help="folder for PNGs written with `w` (default: the cache's folder)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from engine.cache import CacheError, load_cache

    try:
        cache = load_cache(args.cache)
    except CacheError as exc:
        print(f"gradcam-tui: {exc}", file=sys.stderr)
        raise SystemExit(2)
    from tui.app import GradCamApp

    cache_path = Path(args.cache)
    GradCamApp(cache, out_dir=args.out or cache_path.parent, cache_path=cache_path).run()


if __name__ == "__main__":
    main()
