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



@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: ignored where xdist is absent or disabled
def pytest_xdist_make_scheduler(config, log):
    """With -n, schedule as --dist loadgroup: a module marked xdist_group runs on one worker, so its
    module-scoped certification runs once, not once per worker."""
    if config.getoption("dist") == "load":
        from xdist.scheduler import LoadGroupScheduling

        return LoadGroupScheduling(config, log)
    return None
