import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


@pytest.fixture
def attncert_cli(tmp_path):
    """Run the `attncert` CLI in a fresh folder; returns a function (args...) -> CompletedProcess."""
    import subprocess

    def run(*args, timeout=600, **kwargs):
        return subprocess.run([sys.executable, "-m", "conformance.cli", *map(str, args)], cwd=kwargs.pop("cwd", tmp_path),
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    return run
