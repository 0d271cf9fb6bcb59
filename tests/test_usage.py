"""Everyday use (issue 14): an installable wheel, the matrix printed and written only when asked,
honest errors before long runs, declared domain restrictions (the 80-column report: test_certify)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conformance import certify
from conformance.matrix import render
from conformance.spec import load_spec
from conformance.subject import Adapter, ClauseFailure, Subject, transfer

ROOT = Path(__file__).resolve().parent.parent
SPEC = load_spec()


def cli(args, cwd, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "conformance.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


# ---------------------------------------------------------------- the wheel
def test_a_wheel_carries_the_spec_and_the_bundled_implementations_and_certifies(tmp_path):
    """Built from this checkout and installed (not editable) into its own folder, it certifies from anywhere."""
    # the test extra's setuptools builds it: no isolated build environment to set up (seconds, and the index)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            tmp_path / "dist", ROOT],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((tmp_path / "dist").glob("attncert-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"conformance/_spec/blocks.yaml", "conformance/_spec/schema.yaml", "conformance/_impl/reference.py"} <= set(names)
    target = tmp_path / "installed"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import conformance.spec as s; print(s.SPEC_DIR)"], cwd=elsewhere,
                           capture_output=True, text=True, env={**os.environ, **env})
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr  # the wheel's copy, not the checkout
    done = cli(["certify", "reference", "--block", "se", "--quiet", "--database", "none"], elsewhere, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "se                 PASS" in done.stdout


# ---------------------------------------------------------------- the matrix
def certificate(implementation: str, verdict: str = "pass") -> dict:
    return {"implementation": implementation, "environment": {"torch": "2.13.0", "hypothesis_profile": "ci", "seed": 0},
            "complete": True, "blocks": {"se": {"verdict": verdict, "variant": None, "clauses": []}}}


def test_matrix_prints_the_table_of_files_and_folders_and_writes_nothing(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(certificate("alpha")))
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.json").write_text(json.dumps(certificate("beta", "fail")))
    before = set(tmp_path.rglob("*"))
    done = cli(["matrix", "a.json", "more"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| `alpha` |" in done.stdout and "| `beta` |" in done.stdout
    assert set(tmp_path.rglob("*")) == before, "matrix wrote a file without --output"
    assert cli(["matrix", "a.json", "--output", "-"], tmp_path).stdout == render([certificate("alpha")])
    written = cli(["matrix", "a.json", "--output", "out/matrix.md"], tmp_path)
    assert written.returncode == 0 and (tmp_path / "out" / "matrix.md").read_text() == render([certificate("alpha")])
    assert "written to out/matrix.md" in written.stderr and written.stdout == ""
    missing = cli(["matrix", "nope.json"], tmp_path)
    assert missing.returncode == 2 and "no such certificate" in missing.stderr


# ---------------------------------------------------------------- errors before the run, and what they say
def test_an_unwritable_output_is_a_usage_error_before_the_run(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    done = cli(["certify", "reference", "--json", blocked / "cert.json"], tmp_path)
    assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr
    assert "certifying" not in done.stderr  # nothing ran


SE_ONLY = (Path(__file__).resolve().parent / "corpus" / "se_minimal.py").read_text(encoding="utf-8")


def test_a_missing_block_names_what_is_there(tmp_path):
    (tmp_path / "ok.py").write_text(SE_ONLY)
    done = cli(["certify", "ok.py", "--block", "eca"], tmp_path)
    assert done.returncode == 2
    assert "ok.py does not provide eca (it provides: se)" in done.stderr


def test_a_weight_is_never_mapped_onto_a_bias():
    """At C = 1 a canonical fc2.weight has the element count of fc1.bias: registration order must refuse."""
    from torch import nn

    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(1, 1)  # weight [1, 1], bias [1]

    subject = Subject(SPEC, SPEC.block("se"), Adapter("x", {}))
    import torch

    state = {"fc1.weight": torch.ones(1, 1), "fc2.weight": torch.ones(1, 1)}
    with pytest.raises(ClauseFailure, match=r"fc2.weight -> fc1.bias \(a weight onto a bias"):
        transfer(subject, Biased(), state)


# ---------------------------------------------------------------- declared domains
KERNEL_ASSERT = """
import torch
from torch import nn

DOMAIN = {"spatial_attention": "%s"}

class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        assert kernel_size in (3, 7), "kernel size must be 3 or 7"
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        maps = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(maps))

def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
"""


def test_a_declared_domain_certifies_within_it_and_says_so(tmp_path):
    """`assert kernel_size in (3, 7)`: the plain verdict fails (the spec allows any odd size), the
    declared domain passes, and the certificate states the domain."""
    (tmp_path / "k37.py").write_text(KERNEL_ASSERT % "kernel_size in (3, 7)")
    block = certify(str(tmp_path / "k37.py")).to_json()["blocks"]["spatial_attention"]
    assert block["verdict"] == "fail"
    assert block["variant"]["declared"] == {} and block["variant"]["domain"] == "kernel_size in (3, 7)"
    assert block["variant"]["verdict"] == "pass" and "note" not in block["variant"]
    construct = next(c for c in block["clauses"] if c["id"] == "construct")
    assert construct["status"] == "fail" and construct["counterexample"]["kernel_size"] not in (3, 7)


def test_a_domain_without_the_documents_defaults_is_reported(tmp_path):
    (tmp_path / "k3.py").write_text(KERNEL_ASSERT % "kernel_size in (3,)")
    block = certify(str(tmp_path / "k3.py"), blocks=["spatial_attention"]).to_json()["blocks"]["spatial_attention"]
    assert block["variant"]["verdict"] == "pass"
    assert "excludes the documents' defaults (kernel_size=7)" in block["variant"]["note"]


def test_a_declared_domain_is_drawn_from_not_filtered():
    """`kernel_size in (3,)` draws 3 (Hypothesis' too-much-filtering check stays on), and the case tried
    first takes the pinned value nearest the default, as a narrow domain's run must be as quick as any."""
    from hypothesis import HealthCheck, given, settings

    from conformance.clauses import CLAUSES
    from conformance.expr import Expr
    from conformance.strategies import PROFILES, cases, minimal_case

    assert Expr.parse("kernel_size in (3, 7) and kernel_size in (7, 9)").pinned == {"kernel_size": (7,)}
    assert Expr.parse("kernel_size in (3, 7) or kernel_size == 1").pinned == {}
    block, clause, domain = SPEC.block("spatial_attention"), CLAUSES["oracle.output"], Expr.parse("kernel_size in (1, 3)")
    assert minimal_case(block, PROFILES["ci"], clause, ("float32",), None, domain).kwargs["kernel_size"] == 3
    drawn = set()

    @settings(max_examples=40, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(block, PROFILES["ci"], clause, ("float32",), None, domain))
    def draw(case):
        drawn.add(case.kwargs["kernel_size"])

    draw()
    assert drawn == {1, 3}


def test_a_bad_domain_is_a_clear_error(tmp_path, attncert_cli):
    (tmp_path / "bad.py").write_text(KERNEL_ASSERT % "kernel_size in sizes")
    done = attncert_cli("certify", tmp_path / "bad.py")
    assert done.returncode == 2 and "DOMAIN['spatial_attention']" in done.stderr and "literal tuple" in done.stderr
