"""gradcam-tui engine: the headless half (data -> model -> one pass -> Grad-CAM -> cache -> analysis -> reports).

Importing this package imports no torch: everything after the cache (store, analysis, figures, reports) is
torch-free, and is what the TUI uses. torch and torchvision come with the `engine` extra
(`pip install "gradcam-tui[engine]"`); without them the reports, `compare` and the TUI still work.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the one place: pyproject.toml reads it from here

ENGINE_PACKAGES = ("torch", "torchvision")
INSTALL_ENGINE = 'pip install "gradcam-tui[engine]"'


def missing_engine_packages() -> list[str]:
    """The engine's packages that are not installed (found without importing them: torch takes ~2 s)."""
    from importlib.util import find_spec

    return [name for name in ENGINE_PACKAGES if find_spec(name) is None]


def version_text(program: str, with_engine: bool = False) -> str:
    """`PROGRAM 0.1.0`, and with_engine the torch and torchvision it would run on (read from the installed
    packages' metadata, not imported)."""
    text = f"{program} {__version__}"
    if not with_engine:
        return text
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ENGINE_PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return f"{text} ({', '.join(found) if found else 'viewer only: no torch; ' + INSTALL_ENGINE + ' adds the engine'})"
