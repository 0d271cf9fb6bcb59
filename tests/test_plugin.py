"""The pytest plugin: `pytest --impl TARGET` turns every clause into a test item named block::clause."""

import subprocess
import sys

GOOD_SE = """
from torch import nn

class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Linear(c, c // r, bias=False)
        self.fc2 = nn.Linear(c // r, c, bias=False)

    def forward(self, x):
        return x * self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()[:, :, None, None]

def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
"""


def run_pytest(tmp_path, *args):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: no project conftest
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)


def test_plugin_is_inert_without_impl(tmp_path):
    (tmp_path / "test_nothing.py").write_text("def test_one():\n    assert True\n")
    done = run_pytest(tmp_path, "-q")
    assert done.returncode == 0 and "1 passed" in done.stdout


def test_impl_runs_every_clause_as_an_item(tmp_path):
    (tmp_path / "good.py").write_text(GOOD_SE)
    done = run_pytest(tmp_path, "--impl", "good.py", "-v", "-k", "shape or params or kernel")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "good.py::se::shape.preserved PASSED" in done.stdout
    assert "good.py::se::params.count PASSED" in done.stdout


def test_failing_clause_reports_counterexample_and_reproduce(tmp_path):
    (tmp_path / "biased.py").write_text(GOOD_SE.replace("bias=False", "bias=True"))
    done = run_pytest(tmp_path, "--impl", "biased.py", "-q", "-k", "params", "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "se::params.count failed" in done.stdout
    assert "counterexample:" in done.stdout and "attncert reproduce" in done.stdout
