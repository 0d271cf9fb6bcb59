"""The pytest plugin: `pytest --impl TARGET` turns every clause into a test item named block::clause,
run in attncert's worker processes (timeouts and crashes end an item, never the session)."""

import re
import subprocess
import sys
import time
from pathlib import Path

GOOD_SE = (Path(__file__).resolve().parent / "corpus" / "se_minimal.py").read_text(encoding="utf-8")


def run_pytest(tmp_path, *args, timeout=900):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: no project conftest
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def test_plugin_is_inert_without_impl(tmp_path):
    (tmp_path / "test_nothing.py").write_text("def test_one():\n    assert True\n")
    done = run_pytest(tmp_path, "-q")
    assert done.returncode == 0 and "1 passed" in done.stdout


def test_impl_runs_every_clause_as_an_item_and_counts_them(tmp_path):
    (tmp_path / "good.py").write_text(GOOD_SE)
    done = run_pytest(tmp_path, "--impl", "good.py", "-v", "-k", "shape or params or kernel")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "good.py::se::shape.preserved PASSED" in done.stdout
    assert "good.py::se::params.count PASSED" in done.stdout
    collected = re.search(r"collected (\d+) items / (\d+) deselected / (\d+) selected", done.stdout)
    assert collected, done.stdout
    total, deselected, selected = map(int, collected.groups())
    assert total == deselected + selected and selected == 2 and total >= 20


def test_failing_clause_reports_counterexample_and_reproduce_not_harness_code(tmp_path):
    (tmp_path / "biased.py").write_text(GOOD_SE.replace("bias=False", "bias=True"))
    done = run_pytest(tmp_path, "--impl", "biased.py", "-q", "-k", "params", "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "se::params.count failed" in done.stdout
    assert "counterexample:" in done.stdout and "attncert reproduce" in done.stdout
    assert "conformance/" not in done.stdout, "the report shows the harness's own source"


def test_a_hanging_forward_fails_its_items_within_the_timeout(tmp_path):
    (tmp_path / "hangs.py").write_text(GOOD_SE.replace("        return x *", "        import time; time.sleep(10**6)\n        return x *"))
    started = time.monotonic()
    done = run_pytest(tmp_path, "--impl", "hangs.py", "--impl-timeout", "2", "-q", "-k", "shape or deterministic", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 failed" in done.stdout, done.stdout
    assert "no result within the 2 s timeout" in done.stdout
    assert time.monotonic() - started < 120


def test_a_crash_fails_its_item_not_the_session(tmp_path):
    (tmp_path / "crashes.py").write_text(GOOD_SE.replace("        return x *", "        import os; os._exit(3)\n        return x *"))
    done = run_pytest(tmp_path, "--impl", "crashes.py", "-q", "-k", "shape or params")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert "exited with status 3" in done.stdout


def test_parametrize_with_checks_finds_a_relative_target_beside_the_test_file(tmp_path):
    """A relative path is looked up from the test file's folder, not from where pytest runs."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "mine.py").write_text(GOOD_SE)
    (project / "tests" / "test_mine.py").write_text(
        "from conformance import parametrize_with_checks\n\n"
        "@parametrize_with_checks('mine.py')\n"
        "def test_mine(attncert_check):\n    attncert_check()\n"
    )
    done = run_pytest(project, "tests", "-q", "-k", "params or shape")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
