"""Every command and snippet of README.md runs, as a new user would run it.

* Each ```python block runs on its own in a fresh interpreter (its own imports, nothing from the
  blocks before it), and prints exactly what the ```text block right after it shows.
* Each line of each ```bash block is listed in ``COMMANDS`` with how it is checked: a training
  task runs with ``--smoke`` here (the README says so) and in full under ``pytest -m slow``;
  ``pip install`` lines are checked against pyproject.toml's extras (installing needs the network).
  A README command missing from ``COMMANDS`` fails :func:`test_every_readme_block_is_covered`.
* :func:`test_a_clean_clone_runs_the_readme` clones the repository into a temporary folder and runs
  a snippet, the quickstart and ``python -m tasks.mnist --smoke`` there, with ``PYTHONPATH`` pointing
  at the clone: what is committed is enough (the data included), without the network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from typing import Optional

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
README = REPO / "README.md"


@dataclasses.dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # 1-based line of the opening fence
    marker: Optional[str]  # an HTML comment just above it, like "main-command"
    output: Optional[str]  # for a python block: the ```text block right after it


def readme_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    lines = text.splitlines()
    raw = []  # (language, body, line, marker, index of the line after the closing fence)
    index = 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"README.md line {index + 1}: unclosed code block")
        above = next((lines[k].strip() for k in range(index - 1, -1, -1) if lines[k].strip()), "")
        marker = re.fullmatch(r"<!--\s*([\w-]+)\s*-->", above)
        raw.append((opening.group(1), "\n".join(lines[index + 1:end]) + "\n", index + 1,
                    marker.group(1) if marker else None, end + 1))
        index = end + 1
    blocks = []
    for position, (language, body, line, marker, after) in enumerate(raw):
        output = None
        if language == "python" and position + 1 < len(raw):
            following = raw[position + 1]
            between = lines[after:following[2] - 1]
            if following[0] == "text" and not any(part.strip() for part in between):
                output = following[1]
        blocks.append(Block(language, body, line, marker, output))
    return blocks


BLOCKS = readme_blocks(README.read_text())
PYTHON = [b for b in BLOCKS if b.language == "python"]
BASH_LINES = [(b, line.strip()) for b in BLOCKS if b.language == "bash"
              for line in b.text.splitlines() if line.strip() and not line.strip().startswith("#")]

# How each README command is checked. "smoke": its python -m part runs here with --smoke (and
# these extra arguments), under -m slow when "smoke_slow" (those tasks' --smoke runs also run
# in-process, by default, in tests/tasks/test_<task>.py); "clone": the same, in
# test_a_clean_clone_runs_the_readme; "full": the command as written runs under -m slow;
# "suite": the command is this test suite itself.
COMMANDS = {
    "pip install -e . && python -m tasks.mnist": {"clone": [], "full": True},
    'pip install -e ".[test]" && pytest -n 2': {"suite": True},
    "python -m tasks.quickstart": {"smoke": [], "full": True},
    "python -m tasks.mnist": {"clone": [], "full": True},
    # tests/tasks/test_mnist.py runs the same task with --smoke in-process; this subprocess run is slow.
    "python -m tasks.mnist --dataset fashion_mnist": {"smoke": [], "smoke_slow": True, "full": True},
    "python -m tasks.mnist --learning ottt": {"smoke": [], "smoke_slow": True, "full": True},
    "python -m tasks.mnist_stdp": {"smoke": [], "smoke_slow": True, "full": True},
    "python -m tasks.memory": {"smoke": [], "smoke_slow": True, "full": True},
    "python -m tasks.cartpole": {"smoke": [], "smoke_slow": True, "full": True},
    # The CIFAR-10 archive is not in the repository: the smoke run reads a small archive in its
    # format (tests/conftest.py), which is not the published file (hence --no-verify).
    "python -m tasks.cifar10": {"smoke": ["--data-dir", "{cifar}", "--no-verify"], "smoke_slow": True, "full": True},
    # SHD cannot be shipped: the smoke run generates a small file in its format.
    "python -m tasks.shd": {"smoke": [], "smoke_slow": True, "full": True},
    "python -m tasks.timing --model delay": {"smoke": [], "smoke_slow": True, "full": True},
}


def _env(root: pathlib.Path = REPO, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    env.pop("SPIKEJAX_DATA", None)  # the data must be found without help, as on a user's machine
    env.update(extra)
    return env


def _run(argv, *, cwd, env, timeout=600) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{shlex.join(map(str, argv))} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return done


def _python_parts(command: str) -> list[list[str]]:
    """The ``python -m ...`` parts of a README command line (``a && b``)."""
    parts = [shlex.split(part) for part in command.split("&&")]
    return [part for part in parts if part[:2] == ["python", "-m"]]


def _pip_parts(command: str) -> list[list[str]]:
    return [part for part in (shlex.split(p) for p in command.split("&&")) if part[:1] == ["pip"]]


def _smoke_argv(part: list[str], extra: list[str], output: pathlib.Path, **fill) -> list[str]:
    """``python -m task ... --smoke``, writing its summary to ``output`` (the quickstart writes none)."""
    files = [] if part[2] == "tasks.quickstart" else ["--output", str(output), "--no-progress"]
    return [sys.executable, *part[1:], "--smoke", *files, *(arg.format(**fill) for arg in extra)]


def test_readme_parses_into_the_expected_blocks():
    assert [b.marker for b in BLOCKS if b.marker] == ["main-command", "test-command"]
    assert len(PYTHON) >= 3
    example = readme_blocks("<!-- m -->\n```python\nprint(1)\n```\n\n```text\n1\n```\n```bash\nls\n```\n")
    assert [(b.language, b.marker, b.output) for b in example] == [("python", "m", "1\n"), ("text", None, None),
                                                                   ("bash", None, None)]


def test_every_readme_block_is_covered():
    """A new README command must be added to COMMANDS (and so be run); every snippet shows its output."""
    missing = [f"line {b.line}: {line}" for b, line in BASH_LINES if line not in COMMANDS]
    assert not missing, f"README commands not covered by tests/test_readme.py's COMMANDS: {missing}"
    stale = sorted(set(COMMANDS) - {line for _, line in BASH_LINES})
    assert not stale, f"COMMANDS lists commands the README no longer has: {stale}"
    unknown = [f"line {b.line}: ```{b.language}" for b in BLOCKS if b.language not in ("python", "bash", "text")]
    assert not unknown, f"README blocks of a kind this test does not run: {unknown}"
    silent = [f"line {b.line}" for b in PYTHON if b.output is None]
    assert not silent, f"README python blocks without a ```text block of their output after them: {silent}"
    for b, line in BASH_LINES:
        how = COMMANDS[line]
        if "smoke" in how or "clone" in how:
            assert _python_parts(line), line


@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_python_snippet_runs_alone_and_prints_what_the_readme_shows(block, tmp_path):
    done = _run([sys.executable, "-c", block.text], cwd=tmp_path, env=_env(), timeout=300)
    assert done.stdout.strip() == block.output.strip(), (
        f"README.md line {block.line} printed\n{done.stdout}\nbut the README shows\n{block.output}")


def test_pip_commands_name_extras_that_exist():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = []
    for _, line in BASH_LINES:
        for part in _pip_parts(line):
            assert part[:3] == ["pip", "install", "-e"], part
            target = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", part[3])
            assert target, f"{line}: installs {part[3]!r}, expected '.' or '.[extra]'"
            named += (target.group(1) or "").split(",") if target.group(1) else []
    for extra in named + re.findall(r'pip install -e "\.\[(\w+)\]"', README.read_text()):
        assert extra in extras, f"the README names the extra {extra!r}; pyproject.toml has {sorted(extras)}"
    assert "test" in named and "pytest-xdist" in " ".join(extras["test"])  # pytest -n 2 needs xdist


def test_the_readme_says_the_task_commands_are_long_and_checked_with_smoke():
    text = README.read_text()
    assert "`--smoke`" in text and "the test suite runs each with\n`--smoke`" in text


SMOKE = [pytest.param(line, how["smoke"], id=line.split(" -m ")[-1],
                      marks=[pytest.mark.slow] if how.get("smoke_slow") else [])
         for line, how in COMMANDS.items() if "smoke" in how]


@pytest.mark.parametrize("line, extra", SMOKE)
def test_readme_task_command_runs_with_smoke(line, extra, tmp_path, cifar_archive):
    cifar_archive(tmp_path / "cifar", per_batch=8, test=16)
    for part in _python_parts(line):
        output = tmp_path / "summary.json"
        _run(_smoke_argv(part, extra, output, cifar=tmp_path / "cifar"), cwd=tmp_path, env=_env())
        if part[2] != "tasks.quickstart":
            summary = json.loads(output.read_text())
            assert summary["config"]["smoke"] is True
            assert summary.get("complete", True) and not summary.get("interrupted", False)


FULL = [line for line, how in COMMANDS.items() if how.get("full")]


@pytest.mark.slow
@pytest.mark.parametrize("line", FULL, ids=[line.split(" -m ")[-1] for line in FULL])
def test_readme_task_command_runs_in_full(line, tmp_path):
    if "tasks.cifar10" in line:
        try:
            sys.path.insert(0, str(REPO))
            from spikejax.data import find

            find("cifar10")
        except FileNotFoundError:
            pytest.skip("the CIFAR-10 archive is not on this machine (see README.md, Data)")
    if "tasks.shd" in line:
        sys.path.insert(0, str(REPO))
        from spikejax.data._event_files import find_event_files

        try:
            find_event_files("shd", "train")
        except FileNotFoundError:
            pytest.skip("the Spiking Heidelberg Digits are not on this machine (see README.md, Data)")
    for part in _python_parts(line):  # runs/ lands in tmp_path
        _run([sys.executable, *part[1:]], cwd=tmp_path, env=_env(), timeout=6 * 3600)


@pytest.mark.slow  # CI time; run with `pytest -m slow`
def test_a_clean_clone_runs_the_readme(tmp_path):
    """What is committed is enough: clone, then run a snippet and the main command's smoke run."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run([git, "clone", "--quiet", str(REPO), str(clone)], check=True, capture_output=True, timeout=300)
    env = _env(clone)
    where = _run([sys.executable, "-c", "import spikejax, spikejax.data as d; print(spikejax.__file__); "
                  "print(d.find('mnist')); print(d.find('fashion_mnist'))"], cwd=clone, env=env)
    paths = [pathlib.Path(p) for p in where.stdout.split()]
    assert all(clone.resolve() in p.resolve().parents for p in paths), where.stdout
    first = readme_blocks((clone / "README.md").read_text())
    snippet = next(b for b in first if b.language == "python")
    done = _run([sys.executable, "-c", snippet.text], cwd=clone, env=env)
    assert done.stdout.strip() == snippet.output.strip()
    commands = [line for b in first if b.language == "bash" for line in b.text.splitlines() if line.strip()]
    ran = set()
    for line in commands:
        if "clone" in COMMANDS.get(line, {}):
            for part in _python_parts(line):
                if tuple(part) in ran:
                    continue
                ran.add(tuple(part))
                output = tmp_path / f"{part[2]}.json"
                _run(_smoke_argv(part, COMMANDS[line]["clone"], output), cwd=clone, env=env)
                assert json.loads(output.read_text())["complete"] is True
    assert ran, "no README command is run from the clone"
    _run(_smoke_argv(["python", "-m", "tasks.quickstart"], [], tmp_path / "q.json"), cwd=clone, env=env)
