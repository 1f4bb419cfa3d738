"""Package namespaces without private modules.

Importing a submodule sets it as an attribute of its package: once ``spikejax.nn._runner`` is
loaded, ``spikejax.nn._runner`` would show up in ``dir(spikejax.nn)`` and in completion, as if
it were public. :func:`hide_private_modules` gives a package (and its loaded subpackages) a
module type that does not take a ``_``-named submodule as an attribute, now or when one is
imported later; a subpackage imported later gets the same type. ``spikejax/__init__.py`` calls it
once for the whole package. The private modules stay importable by name: ``import spikejax.nn._runner as
runner`` and ``from spikejax.nn import _runner`` find them in ``sys.modules``.
"""

from __future__ import annotations

import sys
import types

__all__ = ["hide_private_modules"]


def _is_submodule(package: types.ModuleType, name: str, value: object) -> bool:
    return isinstance(value, types.ModuleType) and value.__name__ == f"{package.__name__}.{name}"


def _is_private_submodule(package: types.ModuleType, name: str, value: object) -> bool:
    return name.startswith("_") and _is_submodule(package, name, value)


class _PublicNamespace(types.ModuleType):
    """A package whose namespace never takes one of its private submodules."""

    def __setattr__(self, name: str, value: object) -> None:
        # The import system sets every loaded submodule on its parent package this way, once
        # the submodule has run: a subpackage imported later (spikejax.nir) is cleaned here.
        if _is_private_submodule(self, name, value):
            return
        if _is_submodule(self, name, value) and hasattr(value, "__path__"):
            hide_private_modules(value.__name__)
        super().__setattr__(name, value)


def hide_private_modules(package_name: str) -> None:
    """Remove private submodules from the namespace of ``package_name`` and of every loaded
    package below it, and keep later imports from putting them back (also in the subpackages
    imported later).

    Example:
        >>> import spikejax.nn
        >>> import spikejax.nn._runner as runner     # still importable by name
        >>> hasattr(spikejax.nn, "_runner"), runner.__name__
        (False, 'spikejax.nn._runner')
    """
    prefix = package_name + "."
    for name, module in list(sys.modules.items()):
        if name != package_name and not name.startswith(prefix):
            continue
        if module is None or not hasattr(module, "__path__"):
            continue  # only packages hold submodules
        for attribute, value in list(vars(module).items()):
            if _is_private_submodule(module, attribute, value):
                delattr(module, attribute)
        if type(module) is types.ModuleType:
            module.__class__ = _PublicNamespace
