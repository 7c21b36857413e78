"""Entry point placeholder; replaced by the app (issue 5)."""

import sys


def main() -> None:
    from engine.cache import DEFAULT_CACHE, CacheError, load_cache

    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CACHE
    try:
        cache = load_cache(path)
    except CacheError as exc:
        print(f"gradcam-tui: {exc}", file=sys.stderr)
        raise SystemExit(2)
    print(f"{path}: {cache.num_images} images, {cache.num_classes} classes")


if __name__ == "__main__":
    main()
