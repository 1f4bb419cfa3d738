"""Fixtures of the documentation tests: one ``sphinx-build -n -W`` per test session.

The build (about a minute on two cores) is the expensive part, so it runs once even under
pytest-xdist: the first worker to ask builds into the folder that all workers' temp folders share
(xdist's recipe for once-per-session fixtures, with an ``flock`` instead of a third-party lock);
the others wait for it and read the result.
"""

from __future__ import annotations

import fcntl
import json
import os

import pytest

from tests.docs._build import DocsBuild, build


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory) -> DocsBuild:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this session
    out, record = base / "docs-html", base / "docs-build.json"
    with open(base / "docs-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            return DocsBuild(out=out, **json.loads(record.read_text()))
        result = build(out)
        record.write_text(json.dumps({"returncode": result.returncode, "stderr": result.stderr}))
        return result


@pytest.fixture
def built_docs(docs_build) -> DocsBuild:
    """The shared build, failed (not skipped) if sphinx-build failed."""
    assert docs_build.returncode == 0, f"sphinx-build failed:\n{docs_build.stderr[-6000:]}"
    return docs_build
