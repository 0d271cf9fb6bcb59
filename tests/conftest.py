import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=0,
                     help="the attncert seed of the corpus and selftest tests (verdicts must not depend on it)")


@pytest.fixture
def seed(request) -> int:
    return request.config.getoption("--seed")


@pytest.fixture
def attncert_cli(tmp_path):
    """Run the `attncert` CLI in a fresh folder; returns a function (args...) -> CompletedProcess."""
    import subprocess

    def run(*args, timeout=600, **kwargs):
        return subprocess.run([sys.executable, "-m", "conformance.cli", *map(str, args)], cwd=kwargs.pop("cwd", tmp_path),
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    return run


# Modules whose module-scoped fixtures certify something: each runs whole on one pytest-xdist
# worker, so that work is done once. (xdist's own --dist loadgroup no longer groups anything under
# pytest 9.2, pytest-dev/pytest-xdist#1386: it relies on rewriting node ids.)
ONE_WORKER_MODULES = frozenset({
    "test_certify.py", "test_explain.py", "test_reliability.py", "test_selftest.py", "test_spec_errors.py",
    "test_stat.py", "test_walkthrough.py", "test_workflow.py",
})


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: ignored where xdist is absent or disabled
def pytest_xdist_make_scheduler(config, log):
    """With -n: every test on its own, except the modules above, each kept together (most tests first)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module.rsplit("/", 1)[-1] in ONE_WORKER_MODULES else nodeid

    return ModulesOnOneWorker(config, log)
