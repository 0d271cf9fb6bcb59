"""What the test modules share: where things are, the suite's ``--seed``, one helper for each way of
running attncert outside this process — the command line (``cli_argv`` / ``run_cli``), pytest
(``run_pytest``) and a Python snippet (``run_python``), each in a child process of this Python —
and the corpora of implementations with known verdicts, judged in this process
(``corpus_expectations``, ``judge_in_process``).

Test modules import these with ``from conftest import ...``. The suite runs with
``pytest -n 2 --dist loadfile`` (tox.ini, .ci/run): each test module runs whole on one xdist worker,
so a module-scoped fixture (a certification, a worker pool, the generated mutants) is made once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent  # the checkout
CORPUS = ROOT / "tests" / "corpus"
MINIMAL_SE = (CORPUS / "se_minimal.py").read_text(encoding="utf-8")  # the smallest correct adapter (se only)

# tests/outside_project is a separate project (its own pyproject.toml, rootdir and tests), run by
# test_api.py in a child process; this suite neither collects it nor loads its files.
collect_ignore = ["outside_project"]


def pytest_configure(config):
    # attncert keeps failing examples in the user's cache and replays them first: a test's verdict
    # must not depend on what the user certified before (another seed, another target), so the
    # suite and its child processes get a cache of their own (tests about the cache set their own)
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="attncert-tests-cache-")


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=0,
                     help="the attncert seed of the tests that search (verdicts must not depend on it)")


@pytest.fixture
def seed(request) -> int:
    return request.config.getoption("--seed")


# ---------------------------------------------------------------- attncert in a child process
# `attncert ARGS...` with two changes a test may need: packages made missing (an entry None in
# sys.modules: importing it fails and importlib.util.find_spec returns None, as when it is not
# installed), and impl/ replaced by another folder (bundled names resolve there).
_CLI_WRAPPER = """\
import sys
from pathlib import Path
missing, impl_dir = sys.argv.pop(1), sys.argv.pop(1)
sys.modules.update(dict.fromkeys(filter(None, missing.split(",")), None))
if impl_dir:
    import conformance.targets
    conformance.targets.IMPL_DIR = Path(impl_dir)
from conformance.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_argv(*args, impl_dir: Path | None = None, missing: tuple[str, ...] = ()) -> list[str]:
    """The argv of ``attncert ARGS...`` run by this Python. ``impl_dir``: the folder whose ``*.py`` are
    the bundled implementations (``attncert certify mine`` finds ``impl_dir/mine.py``); ``missing``:
    packages that look uninstalled."""
    args = [str(a) for a in args]
    if impl_dir is None and not missing:
        return [sys.executable, "-m", "conformance.cli", *args]
    return [sys.executable, "-c", _CLI_WRAPPER, ",".join(missing), str(impl_dir or ""), *args]


def run_cli(*args, cwd: Path, env: dict | None = None, timeout: float = 600, impl_dir: Path | None = None,
            missing: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``attncert ARGS...`` in ``cwd`` to the end; ``env`` adds to this process's environment."""
    return subprocess.run(cli_argv(*args, impl_dir=impl_dir, missing=missing), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def run_pytest(*args, cwd: Path, env: dict | None = None, timeout: float = 900,
               own_rootdir: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m pytest ARGS...`` (without its cache) in ``cwd``. ``own_rootdir``: write an empty
    pytest.ini there first, so ``cwd`` is pytest's rootdir and no settings or conftest above it apply."""
    if own_rootdir:
        (Path(cwd) / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_python(code: str, *args, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -c CODE ARGS...`` in ``cwd`` (raises subprocess.TimeoutExpired past ``timeout``)."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# ---------------------------------------------------------------- the corpora of implementations
def corpus_expectations(folder: str):
    """A pytest param (file, block, verdict) for every EXPECT entry of every tests/corpus/<folder>/*.py,
    read without importing the file."""
    import ast

    for path in sorted((CORPUS / folder).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        expect = next(
            (ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXPECT" for t in node.targets)),
            None,
        )
        assert expect, f"{path.name} has no EXPECT"
        for block, verdict in expect.items():
            yield pytest.param(path, block, verdict, id=f"{path.stem}-{block}")


def judge_in_process(path: Path, block: str, seed: int, stop_at_first_failure: bool, runtime: str = "eager",
                     clauses: tuple[str, ...] | None = None, declared: bool = False):
    """(clause id, ClauseResult) for each clause of ``block`` (or only ``clauses``) on the adapter file
    ``path`` under ``runtime`` (``declared``: under the file's declared variant and domain), run in
    this process by the engine the workers run (``run_task``), without an example database."""
    from conformance.clauses import clauses_for
    from conformance.engine import run_task
    from conformance.options import RunOptions
    from conformance.results import Task
    from conformance.spec import load_spec
    from conformance.targets import TargetRef, load_adapter

    spec = load_spec()
    adapter = load_adapter(TargetRef(path.stem, str(path)), spec)
    assert spec.block(block).factory in adapter.factories, f"{path.name} provides no {block}"
    options = RunOptions(seed=seed, database=None, runtime=runtime)
    for clause in clauses_for(block, spec):
        if clauses is not None and clause.id not in clauses:
            continue
        outcome = run_task(spec, adapter, f"corpus|{path.name}", Task(block, clause.id, declared=declared), options)
        yield clause.id, outcome
        if stop_at_first_failure and outcome.status == "fail":
            return


def overlong_lines(text: str, width: int = 80) -> list[str]:
    """Lines wider than ``width`` that could have been wrapped: one word alone on its line (a path
    longer than the terminal, as deep temporary folders make) and a Markdown table's row cannot
    be, and are not counted."""
    return [line for line in text.splitlines()
            if len(line) > width and len(line.removesuffix(" \\").split()) > 1 and not line.startswith("|")]


def printed_commands(text: str, label: str = "reproduce: ") -> list[str]:
    """The commands a report printed after ``label``, each joined from its wrapped lines (continued
    with a backslash, or inside a quoted argument) as a shell would read them."""
    import shlex

    commands, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if label not in line:
            continue
        command, j = line.split(label, 1)[1], i
        while True:
            if command.endswith("\\"):  # a continuation line: the backslash and the newline go
                j += 1
                command = command[:-1] + " " + lines[j].strip()
                continue
            try:
                arguments = shlex.split(command)
            except ValueError:  # a quote is open: its argument goes on, the newline inside it
                j += 1
                command += "\n" + lines[j]
                continue
            break
        commands.append(shlex.join(arguments))
    return commands
