"""`attncert matrix CERT.json|DIR ...`: the conformance matrix of certificates, printed to stdout and
written to a file only with ``--output``."""

import json

from conftest import overlong_lines, run_cli
from conformance.matrix import render, summary


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
    assert "## `alpha`" in done.stdout and "## `beta`" in done.stdout and "- se: **fail**" in done.stdout
    assert "certificate `more/b.json`" in done.stdout
    assert set(tmp_path.rglob("*")) == before, "matrix wrote a file without --output"
    assert run_cli("matrix", "a.json", "--output", "-", cwd=tmp_path).stdout == render([certificate("alpha")], ["a.json"])


def test_matrix_writes_a_file_only_with_output(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(certificate("alpha")))
    written = run_cli("matrix", "a.json", "--output", "out/matrix.md", cwd=tmp_path)
    assert written.returncode == 0 and (tmp_path / "out" / "matrix.md").read_text() == render([certificate("alpha")], ["a.json"])
    assert "written to out/matrix.md" in written.stderr and written.stdout == ""


def test_matrix_of_a_missing_certificate_is_a_usage_error(tmp_path):
    missing = run_cli("matrix", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and "no such certificate" in missing.stderr


def test_two_certificates_of_one_file_are_told_apart_and_fit_80_columns(tmp_path):
    """Each section names its certificate; a runtime shows beside the implementation; no line is wider than 80."""
    long_failure = {"id": "oracle.output", "status": "fail", "message": "output: " + "x " * 80,
                    "counterexample": {"in_channel": 4, "input_shape": [1, 4, 1, 1], "dtype": "float64"}}
    first = certificate("alpha")
    second = {**certificate("alpha", "fail"), "environment": {**first["environment"], "runtime": "onnx"}}
    second["blocks"]["se"]["clauses"] = [long_failure]
    text = render([first, second], ["run1/alpha.json", "run2/alpha.json"])
    assert "## `alpha`" in text and "## `alpha (onnx)`" in text
    assert "certificate `run1/alpha.json`" in text and "certificate `run2/alpha.json`" in text
    assert not overlong_lines(text)
    assert "certify-*" not in text



def test_the_summary_is_one_table_with_the_runtimes_that_differ_from_eager(tmp_path):
    eager = certificate("alpha")
    eager["blocks"]["eca"] = {"verdict": "absent", "variant": None, "clauses": []}
    onnx = {**certificate("alpha", "fail"), "environment": {**eager["environment"], "runtime": "onnx"}}
    export = {**certificate("alpha"), "environment": {**eager["environment"], "runtime": "export"}}
    declared = certificate("beta", "fail")
    declared["blocks"]["se"]["variant"] = {"declared": {"bias": True}, "verdict": "pass", "clauses": []}
    table = summary([onnx, eager, declared, export])
    assert table.splitlines()[:4] == ["| implementation | se | eca |", "|---|---|---|",
                                      "| `alpha` | pass; onnx: **fail** | — |", "| `beta` | **fail** / variant pass | — |"]
    assert "- `alpha`: eager, export, onnx" in table and "- `beta`: eager" in table
    for name, cert in [("a.json", eager), ("b.json", onnx)]:
        (tmp_path / name).write_text(json.dumps(cert))
    assert run_cli("matrix", ".", "--summary", cwd=tmp_path).stdout == summary([eager, onnx])
