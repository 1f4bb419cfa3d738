"""Run the notebooks in this folder top to bottom, and save them with their outputs.

    python notebooks/execute.py                  # every notebook, full size, saved in place
    python notebooks/execute.py --small 02 03    # small data, only the names containing 02 or 03
    python notebooks/execute.py --small --no-save   # only check that every notebook runs

The kernel is this interpreter (a kernel spec written to a temporary folder, whatever
``python3`` means elsewhere on the machine), with the repository first on its ``PYTHONPATH``:
the notebooks then import this checkout, so their install cell installs nothing. ``--small``
sets ``SPIKEJAX_NOTEBOOK_SMALL=1``, which the notebooks read to use a few hundred images and
tiny epochs. ``tests/test_notebooks.py`` runs every notebook through :func:`execute`.

Nothing is left behind: the kernel's connection file, its runtime files and whatever the kernel
writes to its temp folder (``TMPDIR``) go into one temporary folder, removed when the notebook
has run. Running needs the ``notebooks`` extra: ``pip install -e ".[notebooks]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time
from typing import Mapping, Optional

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
SMALL_VARIABLE = "SPIKEJAX_NOTEBOOK_SMALL"
KERNEL_NAME = "spikejax-notebooks"


def _require(module: str):
    """Import ``module``, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModuleNotFoundError(
            f"running the notebooks needs the optional package {module.split('.')[0]!r}, which is not "
            f'installed: pip install -e ".[notebooks]" (from the repository\'s root)', name=module,
        ) from error


def notebooks() -> list[pathlib.Path]:
    """The notebooks of this folder, in their numbered order."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def kernel_environment(*, small: bool, extra: Optional[Mapping[str, str]] = None) -> dict:
    """The environment of the kernel: this one, with the repository importable, matplotlib's
    inline backend (an inherited ``MPLBACKEND=Agg`` would draw no images) and the size flag."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env.pop(SMALL_VARIABLE, None)
    if small:
        env[SMALL_VARIABLE] = "1"
    env.update(extra or {})
    return env


def execute(path: os.PathLike, *, small: bool, timeout: int = 600,
            env: Optional[Mapping[str, str]] = None):
    """Execute the notebook at ``path`` in a fresh kernel, in its own folder.

    Args:
        path: the ``.ipynb`` file (not modified).
        small: run with ``SPIKEJAX_NOTEBOOK_SMALL=1``.
        timeout: seconds allowed to each cell.
        env: variables to set in the kernel, on top of :func:`kernel_environment`.

    Returns:
        ``(notebook, seconds)``: the executed ``nbformat`` notebook and the wall time.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised; the message holds the traceback.
    """
    nbclient = _require("nbclient")
    nbformat = _require("nbformat")
    KernelSpecManager = _require("jupyter_client.kernelspec").KernelSpecManager
    KernelManager = _require("jupyter_client.manager").KernelManager

    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="spikejax-notebook-") as kernels:
        spec = pathlib.Path(kernels) / KERNEL_NAME
        spec.mkdir()
        scratch = pathlib.Path(kernels) / "tmp"  # the kernel's TMPDIR and Jupyter runtime folder
        scratch.mkdir()
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "spikejax notebooks", "language": "python",
        }))
        # The connection file goes here, not to the user's Jupyter runtime folder.
        manager = KernelManager(kernel_name=KERNEL_NAME, connection_file=str(pathlib.Path(kernels) / "connection.json"),
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels]))
        client = nbclient.NotebookClient(
            nb, km=manager, timeout=timeout, kernel_name=KERNEL_NAME,
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,  # no per-cell timestamps in the saved files
        )
        began = time.perf_counter()
        isolated = {"TMPDIR": str(scratch), "JUPYTER_RUNTIME_DIR": str(scratch), **(env or {})}
        client.execute(env=kernel_environment(small=small, extra=isolated))
        seconds = time.perf_counter() - began
    for cell in nb.cells:  # timestamps an older run may have left
        cell.metadata.pop("execution", None)
    # Saved notebooks name the ordinary kernel, which is what Colab and Jupyter offer.
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one of these")
    parser.add_argument("--small", action="store_true", help=f"set {SMALL_VARIABLE}=1 (a few hundred images)")
    parser.add_argument("--no-save", action="store_true", help="do not write the outputs back")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed to each cell")
    args = parser.parse_args(argv)
    nbformat = _require("nbformat")

    chosen = [p for p in notebooks() if not args.names or any(n in p.name for n in args.names)]
    if not chosen:
        parser.error(f"no notebook in {HERE} matches {args.names}")
    for path in chosen:
        nb, seconds = execute(path, small=args.small, timeout=args.timeout)
        if not args.no_save:
            nbformat.write(nb, path)
        print(f"{path.name}: {seconds:.1f} s{'' if args.no_save else ', saved'}")


if __name__ == "__main__":
    main()
