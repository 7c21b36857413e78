"""`gradcam-tui [CACHE] [--out DIR]`: load the cache (one clear sentence and exit 2 if it cannot), then run.
`gradcam-tui OLD NEW` browses NEW with a Compare tab against OLD; two caches not on the same test set exit 2.
`--suspects CSV` takes that label_suspects.csv (e.g. `gradcam-batch suspects` over several runs) as the run's
suspects, for the Suspects view and the review.

The cache is read and opened as an AnalysedRun (engine.analysis.analysed_run.open_run: reading it, no
analysis yet) before Textual is imported, so a bad path fails fast; nothing here or below imports torch
(checked by import-linter and by a test).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from engine import version_text
    from engine.store import DEFAULT_CACHE

    p = argparse.ArgumentParser(
        prog="gradcam-tui",
        description="Browse a gradcam cache: classes, confused pairs and Grad-CAM heatmaps in the terminal.",
    )
    p.add_argument(
        "cache", nargs="?", default=str(DEFAULT_CACHE),
        help=f"cache file, cache folder, or an output folder holding one (default: {DEFAULT_CACHE}, or the cache/ folder beside it)",
    )
    p.add_argument(
        "new", nargs="?", default=None,
        help="a second cache of a later run on the same test set: browse it, with a Compare tab against CACHE",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="folder for PNGs written with `w` (default: the cache's folder)"
    )
    p.add_argument(
        "--suspects", type=Path, default=None,
        help="a label_suspects.csv (e.g. of `gradcam-batch suspects` over several runs) for the Suspects view and review",
    )
    p.add_argument("--version", action="version", version=version_text("gradcam-tui"))
    return p.parse_args(argv)


def refuse(why: object) -> None:
    """One sentence on stderr (every control character made visible) and exit code 2."""
    from engine.console import visible

    print(f"gradcam-tui: {visible(why)}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    try:
        _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the cache loads (the app itself takes Ctrl-C as a key)
        print("gradcam-tui: interrupted before the app started; nothing was changed.", file=sys.stderr)
        raise SystemExit(130) from None


def _main(argv: list[str] | None) -> None:
    args = parse_args(argv)
    from engine.analysis.analysed_run import open_run
    from engine.analysis.compare import not_comparable
    from engine.errors import CacheError
    from engine.store import resolve_cache_path

    paths = [resolve_cache_path(p) for p in [args.cache] + ([args.new] if args.new else [])]
    try:
        runs = [open_run(p) for p in paths]
    except CacheError as exc:
        refuse(exc)
    old = None
    if len(runs) == 2:  # the cheap checks now; compare() checks the pixels when the Compare tab opens
        old = runs[0]
        why = not_comparable(old.cache, runs[1].cache)
        if why:
            refuse(why)
    if args.suspects is not None:
        from engine.analysis.combined_suspects import read_suspects_csv
        from engine.errors import UserError

        try:
            runs[-1].use_suspects(read_suspects_csv(args.suspects, runs[-1].cache))
        except UserError as exc:
            refuse(exc)
    from tui.app import GradCamApp
    from tui.supervise import supervised

    cache_path = Path(paths[-1])
    app = GradCamApp(
        runs[-1], out_dir=args.out or cache_path.parent, cache_path=cache_path,
        old_run=old, old_path=paths[0] if old is not None else None,
    )
    raise SystemExit(supervised(lambda: run_app(app)))


def run_app(app) -> int:
    """Run the app; then save the label verdicts it holds and say how it ended. The exit code."""
    app.run()
    try:
        app.reviews.save()
    except OSError as exc:  # WriteFailed: one sentence, the previous file intact
        refuse(exc)
    if app.terminated:
        print("gradcam-tui: ended by SIGTERM; the terminal is restored.", file=sys.stderr)
        return 143
    return app.return_code or 0


if __name__ == "__main__":
    main()
