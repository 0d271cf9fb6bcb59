"""`attncert matrix CERT.json|DIR ...`: the conformance matrix of certificates, printed to stdout and
written to a file only with ``--output``."""

import json

from conftest import run_cli
from conformance.matrix import render


def certificate(implementation: str, verdict: str = "pass") -> dict:
    return {"implementation": implementation, "environment": {"torch": "2.13.0", "hypothesis_profile": "ci", "seed": 0},
            "complete": True, "blocks": {"se": {"verdict": verdict, "variant": None, "clauses": []}}}


def test_matrix_prints_the_table_of_files_and_folders_and_writes_nothing(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(certificate("alpha")))
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.json").write_text(json.dumps(certificate("beta", "fail")))
    before = set(tmp_path.rglob("*"))
    done = run_cli("matrix", "a.json", "more", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| `alpha` |" in done.stdout and "| `beta` |" in done.stdout
    assert set(tmp_path.rglob("*")) == before, "matrix wrote a file without --output"
    assert run_cli("matrix", "a.json", "--output", "-", cwd=tmp_path).stdout == render([certificate("alpha")])


def test_matrix_writes_a_file_only_with_output(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(certificate("alpha")))
    written = run_cli("matrix", "a.json", "--output", "out/matrix.md", cwd=tmp_path)
    assert written.returncode == 0 and (tmp_path / "out" / "matrix.md").read_text() == render([certificate("alpha")])
    assert "written to out/matrix.md" in written.stderr and written.stdout == ""


def test_matrix_of_a_missing_certificate_is_a_usage_error(tmp_path):
    missing = run_cli("matrix", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and "no such certificate" in missing.stderr
