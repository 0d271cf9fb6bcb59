"""End-to-end: the CLI certifies the bundled reference and the documents' code as DESIGN §3-4 say."""

import hashlib
import json
import math
import os
import re
import shlex
import subprocess
import sys

from pathlib import Path

import pytest

from conformance.spec import load_spec

BLOCKS = list(load_spec().blocks)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    runs = {}
    for target in ("reference", "tutorial"):
        path = folder / f"{target}.json"
        done = subprocess.run([sys.executable, "-m", "conformance.cli", "certify", target, "--json", str(path), "--quiet",
                               "--markdown", f"{target}.md"],
                              cwd=folder, capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "80"})
        runs[target] = (done, json.loads(path.read_text()))
    return runs


def test_reference_passes_every_block(certificates):
    done, cert = certificates["reference"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert {name: block["verdict"] for name, block in cert["blocks"].items()} == dict.fromkeys(BLOCKS, "pass")
    assert cert["complete"] is True


def test_the_report_fits_80_columns_and_says_a_shared_skip_once(certificates):
    done, _ = certificates["reference"]
    verdicts = [line for line in done.stdout.splitlines() if re.match(rf"({'|'.join(BLOCKS)}) +PASS", line)]
    assert len(verdicts) == len(BLOCKS) and all(len(line) <= 80 for line in verdicts), verdicts
    if "CUDA is not available" in done.stdout:
        assert done.stdout.count("CUDA is not available") == 1
    assert "report: reference.md" in done.stdout


def test_certificate_has_the_design_fields(certificates):
    _, cert = certificates["reference"]
    assert cert["implementation"] == "reference"
    assert cert["path"].endswith("reference.py") and re.fullmatch(r"[0-9a-f]{64}", cert["sha256"])
    assert cert["sha256"] == hashlib.sha256(Path(cert["path"]).read_bytes()).hexdigest()
    assert cert["attncert"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cert["time"])
    env = cert["environment"]
    for key in ("torch", "python", "cuda", "device", "device_name", "tf32", "precision", "hypothesis_profile", "seed"):
        assert key in env
    assert env["hypothesis_profile"] == "ci" and env["seed"] == 0
    assert env["device"] == "cpu" and env["tf32"] is False and env["precision"] == "strict"
    for block in cert["blocks"].values():
        assert block["variant"] is None
        for clause in block["clauses"]:
            assert set(clause) >= {"id", "status", "message", "counterexample", "reproduce"}
            assert clause["status"] in ("pass", "fail", "skip")
            if clause["status"] == "skip":
                assert clause["message"], "a skip always says why"


def test_cuda_clause_is_skipped_not_passed_without_cuda(certificates):
    _, cert = certificates["reference"]
    if cert["environment"]["cuda"]:
        pytest.skip("this machine has CUDA")
    statuses = {c["id"]: c for c in cert["blocks"]["se"]["clauses"]}
    assert statuses["cuda.agreement"]["status"] == "skip"
    assert "CUDA" in statuses["cuda.agreement"]["message"]


def documents_kernel(channels, b, gamma):
    """What the documents' code builds: trunc(|(log2 C + b) / gamma|), never made odd."""
    return int(abs((math.log(channels, 2) + b) / gamma))


def test_tutorial_fails_only_eca_at_an_even_kernel(certificates):
    done, cert = certificates["tutorial"]
    assert done.returncode == 1
    verdicts = {name: block["verdict"] for name, block in cert["blocks"].items()}
    provided = {"se", "eca", "channel_attention", "spatial_attention", "cbam"}  # the documents' blocks
    assert verdicts == {name: ("fail" if name == "eca" else "pass") if name in provided else "absent" for name in BLOCKS}
    failing = [c for c in cert["blocks"]["eca"]["clauses"] if c["status"] == "fail"]
    assert any(c["id"] == "invariant.kernel_size" for c in failing)
    for clause in failing:
        case = clause["counterexample"]
        assert documents_kernel(case["in_channel"], case["b"], case["gamma"]) % 2 == 0, clause
        assert case["input_shape"][1] == case["in_channel"]
        assert {"dtype", "memory_format", "seed"} <= set(case)


def test_tutorial_reproduce_command_replays_the_crash(certificates, tmp_path):
    _, cert = certificates["tutorial"]
    clause = next(c for c in cert["blocks"]["eca"]["clauses"] if c["id"] == "shape.preserved")
    argv = shlex.split(clause["reproduce"])
    assert argv[:2] == ["attncert", "reproduce"]
    done = subprocess.run([sys.executable, "-m", "conformance.cli", *argv[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout
    assert "Traceback" in done.stdout and "tutorial.py" in done.stdout


def test_reproduce_passes_on_a_correct_case(attncert_cli):
    case = {"in_channel": 16, "b": 1, "gamma": 2, "input_shape": [2, 16, 3, 5], "dtype": "float64",
            "memory_format": "channels_last", "seed": 3}
    done = attncert_cli("reproduce", "reference", "eca::invariant.kernel_size", "--case", json.dumps(case))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout


def test_tutorial_kernel_defect_matches_the_documented_channel_counts():
    """C = 1, 8-31, 128-511, 2048-8191 at b=1, gamma=2 give an even kernel in the documents' code."""
    even = [c for c in range(1, 8193) if documents_kernel(c, 1, 2) % 2 == 0]
    expected = [1, *range(8, 32), *range(128, 512), *range(2048, 8192)]
    assert even == expected
    eca = load_spec().block("eca")
    assert all(eca.env({"in_channel": c})["kernel_size"] % 2 == 1 for c in expected)


@pytest.mark.parametrize("args, message", [
    (["certify", "does/not/exist.py"], "no such adapter file"),
    (["certify", "no_such_target_xyz"], "neither a file"),
    (["certify", "reference", "--block", "nope"], "unknown block"),
    (["certify", "reference", "--timeout", "0"], "--timeout"),
    (["reproduce", "reference", "se-oracle.output", "--case", "{}"], "BLOCK::CLAUSE"),
    (["reproduce", "reference", "se::oracle.output", "--case", "{not json"], "not JSON"),
    (["reproduce", "reference", "se::oracle.output", "--case", "{}"], "not a counterexample"),
])
def test_bad_cli_input_exits_2_with_one_line(attncert_cli, args, message):
    done = attncert_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
