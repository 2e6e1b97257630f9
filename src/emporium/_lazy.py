"""Package attributes imported on first use (PEP 562).

A package whose ``__init__`` re-exports from heavy submodules makes every
importer of any of its submodules pay for all of them. ``__getattr__ =
lazy(__name__, {...})`` defers each name to its first use; a ``TYPE_CHECKING``
block beside it keeps the names visible to type checkers and readers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["exports_of", "lazy"]


def exports_of(module: str, names: Iterable[str]) -> dict[str, str]:
    """``{name: module}`` for each name; the map :func:`lazy` takes."""
    return dict.fromkeys(names, module)


def lazy(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``exports[name]`` and taking ``name`` from it.

    A name that is itself the submodule (``{"deadline": "pkg.deadline"}``)
    resolves to the module.
    """

    def getattr_(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        value = module if module_name == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return getattr_
