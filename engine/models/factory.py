"""--model FILE.py:FACTORY: the user's own architecture, built from their file (their code, run on purpose)."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Callable

from torch import nn

from engine.errors import UserError, brief


def user_factory(spec: str) -> tuple[Callable[..., nn.Module], str]:
    if ":" not in spec:
        raise UserError(f"--model {spec!r} should be FILE.py:FACTORY, e.g. my_models.py:build.")
    file, fn = spec.rsplit(":", 1)
    path = Path(file)
    if not path.is_file():
        raise UserError(f"--model file {path} does not exist.")
    mod_spec = importlib.util.spec_from_file_location(f"user_model_{path.stem}", path)
    if mod_spec is None or mod_spec.loader is None:
        raise UserError(f"--model file {path} is not a Python module.")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except SystemExit as exc:
        raise UserError(f"--model file {path} called sys.exit({_code(exc)}) while being imported; it should define "
                        "the factory and return.") from None
    except Exception as exc:  # the user's code: report, don't crash
        raise UserError(f"--model file {path} failed to import: {type(exc).__name__}: {brief(exc)}.") from None
    factory = getattr(module, fn, None)
    if not callable(factory):
        raise UserError(f"--model file {path} has no callable named {fn!r}.")
    return factory, f"{path.name}:{fn}"


def call_factory(factory: Callable[..., nn.Module], num_classes: int, label: str) -> nn.Module:
    try:
        params = inspect.signature(factory).parameters
        model = factory(num_classes=num_classes) if "num_classes" in params else factory()
    except SystemExit as exc:
        raise UserError(f"--model {label} called sys.exit({_code(exc)}) instead of returning a torch.nn.Module.") from None
    except Exception as exc:
        raise UserError(f"--model {label} failed: {type(exc).__name__}: {brief(exc)}.") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"--model {label} returned {type(model).__name__}, not a torch.nn.Module.")
    return model


def _code(exc: SystemExit) -> str:
    return repr(exc.code) if exc.code is not None else ""
