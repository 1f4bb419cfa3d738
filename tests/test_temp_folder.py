"""The suite's temp-folder check (tests/conftest.py) catches a test that leaves files behind.

A pytest run in a subprocess loads tests/conftest.py as a plugin and runs one test that leaks a
folder and one that writes into ``tmp_path``: the run must fail, name the leaked folder and remove
its temp folder; without the leak it passes.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

LEAKY = """
import tempfile

def test_leaks():
    tempfile.mkdtemp(prefix="left-behind-")

def test_clean(tmp_path):
    (tmp_path / "fine.txt").write_text("tmp_path is pytest's own")
"""


def _pytest(folder: pathlib.Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               TMPDIR=str(folder / "system-tmp"))
    env.pop("SPIKEJAX_TEST_TMPDIR", None)  # the inner run owns a temp folder of its own
    (folder / "system-tmp").mkdir()
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                           "-p", "tests.conftest", "--rootdir", str(folder), "-c", os.devnull, *extra,
                           str(folder / "test_leaky.py")],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_a_leftover_in_the_temp_folder_fails_the_session_and_is_named(tmp_path):
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    done = _pytest(tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout and "files left in the temp folder" in done.stdout
    assert "left-behind-" in done.stdout and "fine.txt" not in done.stdout
    assert list((tmp_path / "system-tmp").iterdir()) == []  # the session's folder is removed


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_a_clean_session_passes(tmp_path):
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    done = _pytest(tmp_path, "-k", "not test_leaks")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "files left in the temp folder" not in done.stdout
    assert list((tmp_path / "system-tmp").iterdir()) == []
