"""The pytest plugin: `pytest --impl TARGET` turns every clause into a test item named block::clause,
run in attncert's worker processes (timeouts and crashes end an item, never the session); inert
without --impl. Each run is pytest in a child process, in a folder that is its own rootdir.
"""

import re
import time

from conftest import MINIMAL_SE, run_pytest


def test_plugin_is_inert_without_impl(tmp_path):
    (tmp_path / "test_nothing.py").write_text("def test_one():\n    assert True\n")
    done = run_pytest("-q", cwd=tmp_path, own_rootdir=True)
    assert done.returncode == 0 and "1 passed" in done.stdout


def test_impl_runs_every_clause_as_an_item_and_counts_them(tmp_path):
    (tmp_path / "good.py").write_text(MINIMAL_SE)
    done = run_pytest("--impl", "good.py", "-v", "-k", "shape or params or kernel", cwd=tmp_path, own_rootdir=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "good.py::se::shape.preserved PASSED" in done.stdout
    assert "good.py::se::params.count PASSED" in done.stdout
    collected = re.search(r"collected (\d+) items / (\d+) deselected / (\d+) selected", done.stdout)
    assert collected, done.stdout
    total, deselected, selected = map(int, collected.groups())
    assert total == deselected + selected and selected == 2 and total >= 20


def test_failing_clause_reports_counterexample_and_reproduce_not_harness_code(tmp_path):
    (tmp_path / "biased.py").write_text(MINIMAL_SE.replace("bias=False", "bias=True"))
    done = run_pytest("--impl", "biased.py", "-q", "-k", "params", "-n", "2", cwd=tmp_path, own_rootdir=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "se::params.count failed" in done.stdout
    assert "counterexample:" in done.stdout and "attncert reproduce" in done.stdout
    assert "conformance/" not in done.stdout, "the report shows the harness's own source"


def test_a_hanging_forward_fails_its_items_within_the_timeout(tmp_path):
    (tmp_path / "hangs.py").write_text(MINIMAL_SE.replace("        return x *", "        import time; time.sleep(10**6)\n        return x *"))
    started = time.monotonic()
    done = run_pytest("--impl", "hangs.py", "--impl-timeout", "2", "-q", "-k", "shape or deterministic", cwd=tmp_path,
                      own_rootdir=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 failed" in done.stdout, done.stdout
    assert "no result within the 2 s timeout" in done.stdout
    assert time.monotonic() - started < 120


def test_a_crash_fails_its_item_not_the_session(tmp_path):
    (tmp_path / "crashes.py").write_text(MINIMAL_SE.replace("        return x *", "        import os; os._exit(3)\n        return x *"))
    done = run_pytest("--impl", "crashes.py", "-q", "-k", "shape or params", cwd=tmp_path, own_rootdir=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert "exited with status 3" in done.stdout
