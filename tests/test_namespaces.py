"""Package namespaces: no private module is reachable as a package attribute, and none hides a
public function (issue 15)."""

import importlib
import pkgutil
import types

import pytest

import spikejax


def _all_modules() -> list[str]:
    names = ["spikejax"]
    for info in pkgutil.walk_packages(spikejax.__path__, "spikejax."):
        names.append(info.name)
    return names


def _packages() -> list[types.ModuleType]:
    # Every module imported first: a private module imported late must not show up either.
    modules = [importlib.import_module(name) for name in _all_modules()]
    return [module for module in modules if hasattr(module, "__path__")]


def test_every_package_is_listed():
    names = {package.__name__ for package in _packages()}
    assert {"spikejax", "spikejax.functional", "spikejax.nn", "spikejax.kernels", "spikejax.learn",
            "spikejax.data", "spikejax.nir", "spikejax.functional.plasticity"} <= names


@pytest.mark.parametrize("package", _packages(), ids=lambda module: module.__name__)
def test_no_private_module_in_a_package_namespace(package):
    private = sorted(
        name for name, value in vars(package).items()
        if isinstance(value, types.ModuleType) and name.startswith("_")
    )
    assert private == [], f"{package.__name__} exposes private modules {private}"
    assert not [name for name in dir(package) if name in ("_runner", "_base", "_model", "_checkpoint")]


def test_private_modules_stay_importable_by_name():
    import spikejax.nn._runner as runner
    from spikejax.kernels import _fused
    from spikejax import _checkpoint

    assert runner.__name__ == "spikejax.nn._runner" and hasattr(runner, "run_sequence")
    assert _fused.__name__ == "spikejax.kernels._fused"
    assert _checkpoint.__name__ == "spikejax._checkpoint"
    assert importlib.import_module("spikejax.functional._model").NeuronModel is (
        spikejax.functional.NeuronModel
    )
    assert not hasattr(spikejax.nn, "_runner") and not hasattr(spikejax, "_checkpoint")


def test_a_private_module_imported_later_stays_hidden():
    from spikejax._namespace import hide_private_modules

    package = types.ModuleType("spikejax_namespace_probe")
    package.__path__ = []
    child = types.ModuleType("spikejax_namespace_probe._child")
    public = types.ModuleType("spikejax_namespace_probe.child")
    import sys

    sys.modules[package.__name__] = package
    try:
        package._child = child
        hide_private_modules(package.__name__)
        assert not hasattr(package, "_child")            # removed
        setattr(package, "_child", child)                # what the import system does later
        setattr(package, "child", public)
        assert not hasattr(package, "_child") and package.child is public
        package._value = 3                                # other private names are kept
        assert package._value == 3
    finally:
        del sys.modules[package.__name__]


def test_a_subpackage_imported_later_is_cleaned_too():
    import sys

    from spikejax._namespace import hide_private_modules

    package = types.ModuleType("spikejax_namespace_probe2")
    package.__path__ = []
    sub = types.ModuleType("spikejax_namespace_probe2.sub")
    sub.__path__ = []
    sub._private = types.ModuleType("spikejax_namespace_probe2.sub._private")
    sys.modules[package.__name__] = package
    try:
        hide_private_modules(package.__name__)
        sys.modules[sub.__name__] = sub       # imported after the package was cleaned
        package.sub = sub                     # the import system, after sub's __init__ ran
        assert not hasattr(sub, "_private")
        sub._private = types.ModuleType("spikejax_namespace_probe2.sub._private")
        assert not hasattr(sub, "_private")
    finally:
        sys.modules.pop(package.__name__)
        sys.modules.pop(sub.__name__, None)
