"""`attncert certify` and `attncert reproduce` end to end, in a child process as a user runs them.

The bundled reference passes every block and the documents' code fails only ECA, with the
certificate and the 80-column report the README describes; a failure's reproduce command replays
it. Before anything runs, bad input is a usage error (exit status 2, one line, no traceback): bad
arguments, devices, outputs, blocks and files that cannot be certified. ``--autocast`` certifies on
the CPU.
"""

import hashlib
import json
import math
import re
import shlex
from pathlib import Path

import pytest
import torch

from conftest import CORPUS, MINIMAL_SE, ROOT, overlong_lines, printed_commands, run_cli
from conformance.spec import load_spec

BLOCKS = list(load_spec().blocks)
FAULTY = CORPUS / "faulty"
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    runs = {}
    for target in ("reference", "tutorial"):
        path = folder / f"{target}.json"
        done = run_cli("certify", target, "--json", path, "--quiet", "--markdown", f"{target}.md", cwd=folder, timeout=900,
                       env={"COLUMNS": "80"})
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
    for run, _ in certificates.values():  # the failing tutorial's report too: messages, cases, commands
        assert not overlong_lines(run.stdout), run.stdout
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


CLAUSE_FIELDS = ["id", "status", "message", "counterexample", "reproduce", "examples", "seconds"]  # then details, cause


def test_every_clause_in_a_certificate_has_exactly_its_fields(certificates):
    """The fields a certificate's clause always had, in order; ``details`` and ``cause`` only when set."""
    optional_seen = set()
    for _, cert in certificates.values():
        for block in cert["blocks"].values():
            for run in (block, block.get("variant") or {}):
                for clause in run.get("clauses", []):
                    optional = [key for key in ("details", "cause") if key in clause]
                    assert list(clause) == CLAUSE_FIELDS + optional, clause
                    assert all(clause[key] for key in optional), clause
                    optional_seen.update(optional)
    assert "details" in optional_seen  # the tutorial's ECA raised: its traceback is kept


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
    done = run_cli(*argv[1:], cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout
    assert "Traceback" in done.stdout and "tutorial.py" in done.stdout


def test_reproduce_passes_on_a_correct_case(tmp_path):
    case = {"in_channel": 16, "b": 1, "gamma": 2, "input_shape": [2, 16, 3, 5], "dtype": "float64",
            "memory_format": "channels_last", "seed": 3}
    done = run_cli("reproduce", "reference", "eca::invariant.kernel_size", "--case", json.dumps(case), cwd=tmp_path)
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
def test_bad_cli_input_exits_2_with_one_line(tmp_path, args, message):
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_reproduce_shows_what_was_found_not_the_harness(tmp_path):
    """A property that fails (no exception) is reported as found vs expected; a raising one with its traceback."""
    case = {"in_channel": 4, "ratio": 4, "input_shape": [1, 4, 1, 1], "dtype": "float64",
            "memory_format": "contiguous", "seed": 0}
    done = run_cli("reproduce", CORPUS / "mutants" / "se_bias.py", "se::params.count", "--case", json.dumps(case), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "13 parameters" in done.stdout and "expected 8" in done.stdout
    assert "Traceback" not in done.stdout and "conformance/" not in done.stdout
    eca = {"in_channel": 1, "b": 1, "gamma": 2, "input_shape": [1, 1, 1, 1], "dtype": "float64",
           "memory_format": "contiguous", "seed": 0}
    done = run_cli("reproduce", "tutorial", "eca::shape.preserved", "--case", json.dumps(eca), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stdout and "tutorial.py" in done.stdout


# ---------------------------------------------------------------- usage errors, before anything runs
@pytest.mark.parametrize("name, status", [("import_error", 2), ("no_block", 2), ("se_os_exit", 1)])
def test_the_command_line_on_faulty_files(tmp_path, name, status):
    """Exit status 2 with one line (no traceback) when nothing can be certified; else a certificate."""
    done = run_cli("certify", FAULTY / f"{name}.py", "--json", tmp_path / "cert.json", "--quiet", "--database", "none",
                   "--block", "se", cwd=tmp_path)
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if status == 2:
        errors = [line for line in done.stderr.splitlines() if line.startswith("attncert: error:")]
        assert len(errors) == 1, done.stderr
        assert not (tmp_path / "cert.json").exists()
    else:
        certificate = json.loads((tmp_path / "cert.json").read_text())
        assert certificate["blocks"]["se"]["verdict"] == "fail" and certificate["complete"] is True


def test_an_unwritable_output_is_a_usage_error_before_the_run(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    done = run_cli("certify", "reference", "--json", blocked / "cert.json", cwd=tmp_path)
    assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr
    assert "certifying" not in done.stderr  # nothing ran


def test_a_missing_block_names_what_is_there(tmp_path):
    (tmp_path / "ok.py").write_text(MINIMAL_SE)
    done = run_cli("certify", "ok.py", "--block", "eca", cwd=tmp_path)
    assert done.returncode == 2
    assert "ok.py does not provide eca (it provides: se)" in done.stderr


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_usage_error(tmp_path):
    done = run_cli("certify", "reference", "--device", "cuda", "--block", "se", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--device cuda: CUDA is not available on this machine" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_device_beyond_the_gpus_is_a_usage_error(tmp_path):
    done = run_cli("certify", "reference", "--device", "cuda:99", "--block", "se", cwd=tmp_path)
    assert done.returncode == 2 and "there are only" in done.stderr


def test_a_device_that_is_not_one_is_a_usage_error(tmp_path):
    done = run_cli("certify", "reference", "--device", "gpu", cwd=tmp_path)
    assert done.returncode == 2 and "--device must be cpu, cuda or cuda:N" in done.stderr


# ---------------------------------------------------------------- reduced precision
@pytest.mark.parametrize("autocast, blocks", [("bf16", ["se", "eca"]), ("fp16", ["spatial_attention"])])
def test_autocast_certifies_on_the_cpu(tmp_path, autocast, blocks):
    """The reference passes under torch.autocast with reduced-precision inputs, and the certificate names the profile."""
    args = ["certify", "reference", "--autocast", autocast, "--json", tmp_path / "cert.json", "--quiet"]
    done = run_cli(*args, *[a for b in blocks for a in ("--block", b)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    certificate = json.loads((tmp_path / "cert.json").read_text())
    assert certificate["environment"]["precision"] == f"autocast-{autocast}"
    assert {b: certificate["blocks"][b]["verdict"] for b in blocks} == dict.fromkeys(blocks, "pass")


# ---------------------------------------------------------------- everyday use
HARD_SIGMOID_SE = MINIMAL_SE.replace("x * self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()",
                                     "x * nn.functional.hardsigmoid(self.fc2(self.fc1(x.mean((2, 3))).relu()))")


@pytest.fixture(scope="module")
def hard_sigmoid(tmp_path_factory):
    """A wrong SE certified in a project folder without --json (its report prints reproduce commands)."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "my_se.py").write_text(HARD_SIGMOID_SE)
    done = run_cli("certify", "my_se.py", cwd=folder, env={"XDG_CACHE_HOME": str(folder / "cache")})
    return folder, done


def test_a_printed_command_works_from_any_folder(hard_sigmoid, tmp_path):
    folder, done = hard_sigmoid
    assert done.returncode == 1, done.stdout + done.stderr
    commands = printed_commands(done.stdout)
    assert commands and all(str(folder / "my_se.py") in command for command in commands)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    replayed = run_cli(*shlex.split(commands[0])[1:], cwd=elsewhere)
    assert replayed.returncode == 1 and "FAIL" in replayed.stdout, replayed.stdout + replayed.stderr


def test_a_failure_at_an_ordinary_case_is_shrunk(hard_sigmoid):
    """The ordinary-size case (C = 16, 2 x 16 x 5 x 7) fails first; the search then finds a smaller one."""
    _, done = hard_sigmoid
    case = json.loads(shlex.split(printed_commands(done.stdout)[0])[-1])
    assert case["in_channel"] == 4 and case["input_shape"][0] == 1 and case["input_shape"][2] * case["input_shape"][3] <= 4, case


def test_a_run_leaves_nothing_in_the_current_folder(hard_sigmoid):
    folder, _ = hard_sigmoid
    assert sorted(p.name for p in folder.iterdir()) == ["cache", "my_se.py"]
    assert (folder / "cache" / "attncert" / "examples").is_dir()


def test_a_gradgradcheck_failure_shows_no_traceback_of_harness_and_torch_frames_only(hard_sigmoid):
    folder, done = hard_sigmoid
    command = next(c for c in printed_commands(done.stdout) if "se::gradgradcheck" in c)
    replayed = run_cli(*shlex.split(command)[1:], cwd=folder)
    assert replayed.returncode == 1 and "hardsigmoid_backward" in replayed.stdout
    assert "the implementation raised" not in replayed.stdout and "Traceback" not in replayed.stdout


def test_an_output_that_cannot_be_written_after_the_run_is_exit_2_after_the_report(tmp_path, monkeypatch, capsys):
    """A --json the up-front check accepts but the write refuses (e.g. under /proc as root)."""
    from conformance import certificate, cli

    (tmp_path / "mine.py").write_text(MINIMAL_SE)
    monkeypatch.chdir(tmp_path)

    def refuse(path, text):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(certificate, "write_atomically", refuse)
    assert cli.main(["certify", "mine.py", "--json", "out.json", "--quiet", "--database", "none"]) == 2
    out, err = capsys.readouterr()
    assert "PASS" in out and "certificate: out.json" not in out
    assert "attncert: error: cannot write out.json: Permission denied" in err and "Traceback" not in err


def test_the_help_names_the_blocks_of_the_spec():
    done = run_cli("--help", cwd=ROOT)
    assert "SE, ECA, CBAM, Coordinate Attention, SimAM" in " ".join(done.stdout.split())

