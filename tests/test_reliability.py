"""The harness stays standing on code that misbehaves, and loses no certificate.

tests/corpus/faulty/: implementations that raise, hang, crash the process, exhaust memory, return
garbage or change torch's global state. Each must become failing clauses with a reason (or exit
status 2 for files that cannot be imported or provide nothing), within the timeout, with the
certificate written and every other block still judged.
"""

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FAULTY = Path(__file__).resolve().parent / "corpus" / "faulty"
TIMEOUT = "4"  # seconds per clause: the hanging files must fail within it


def constant(path: Path, name: str):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def faulty_files():
    for path in sorted(FAULTY.glob("*.py")):
        yield pytest.param(path, id=path.stem)
    yield pytest.param(FAULTY / "syntax_error.py.txt", id="syntax_error")


def certify(target: Path, tmp_path: Path, *extra: str, timeout: float = 1500):
    cert = tmp_path / "cert.json"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "certify", str(target), "--json", str(cert), "--quiet",
         "--timeout", TIMEOUT, "--database", "none", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
    )
    return done, cert


@pytest.mark.parametrize("path", list(faulty_files()))
def test_faulty_implementation_is_judged_without_crashing_the_harness(path, tmp_path):
    target = path
    if path.suffix == ".txt":  # kept as .txt so tools do not trip over it
        target = tmp_path / "syntax_error.py"
        shutil.copy(path, target)
    done, cert = certify(target, tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    expect_exit = constant(path, "EXPECT_EXIT") if path.suffix == ".py" else int((FAULTY / "syntax_error.expect").read_text())
    if expect_exit is not None:
        assert done.returncode == expect_exit, done.stdout + done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("attncert: error:")]
        assert len(errors) == 1, done.stderr
        return
    expect = constant(path, "EXPECT")
    assert done.returncode == (1 if "fail" in expect.values() else 0), done.stdout + done.stderr
    certificate = json.loads(cert.read_text())
    assert certificate["complete"] is True
    for block, verdict in expect.items():
        judged = certificate["blocks"][block]
        assert judged["verdict"] == verdict, (block, judged)
        if verdict == "fail":
            failing = [c for c in judged["clauses"] if c["status"] == "fail"]
            assert all(c["message"] for c in failing)
    # every clause the spec declares was judged: nothing silently dropped
    for block in certificate["blocks"].values():
        assert "not_run" not in block


def slow_adapter(tmp_path: Path) -> Path:
    path = tmp_path / "slow.py"
    path.write_text(
        "import time\nfrom torch import nn\n\n"
        "class Slow(nn.Module):\n"
        "    def forward(self, x):\n        time.sleep(0.05)\n        return x * 0.5\n\n"
        "def se(*, in_channel, ratio):\n    return Slow()\n\n"
        "def eca(*, in_channel, b, gamma):\n    return Slow()\n"
    )
    return path


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_writes_a_partial_certificate_atomically(tmp_path, signum, status):
    cert = tmp_path / "cert.json"
    cert.write_text('{"old": "certificate"}\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "certify", str(slow_adapter(tmp_path)), "--json", str(cert),
         "--quiet", "--database", "none"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until workers have started running clauses
        time.sleep(0.5)
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        if children and time.monotonic() > deadline - 52:
            break
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    data = json.loads(cert.read_text())  # valid JSON: never half-written
    assert data["complete"] is False
    assert "interrupted" in err
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".cert.json.")]
    assert not leftovers, leftovers
