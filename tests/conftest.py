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
