"""The worker pool: the harness stays standing on code that misbehaves, and loses no certificate.

tests/corpus/faulty/: implementations that raise, hang, crash the process, exhaust memory, reserve
address space, return garbage or change torch's global state. Each must become failing clauses with
a reason (or a TargetError for files that cannot be imported or provide nothing), within the
timeout, with every other block still judged. They run through the same worker pool as
``attncert certify`` (one pool per timeout, shared by this module). The memory guard counts what
the workers really use. An interrupted ``attncert certify`` writes an honest partial certificate.
(The command line's exit status on faulty files: test_cli_certify.py.)
"""

import ast
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CORPUS, cli_argv
from conformance.certification import Certification
from conformance.options import RunOptions
from conformance.pool import GIB, Pool
from conformance.results import Task
from conformance.spec import load_spec
from conformance.targets import TargetError, resolve

FAULTY = CORPUS / "faulty"
MEMORY = CORPUS / "memory"
SPEC = load_spec()
DEFAULT_TIMEOUT = 60.0  # seconds per clause where the file does not set TIMEOUT


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


@pytest.fixture(scope="module")
def pools():
    """Worker pools by (timeout, memory limit), shared by this module's tests."""
    made: dict[tuple, Pool] = {}

    def pool(timeout: float, memory_limit: int | None) -> tuple[Pool, RunOptions]:
        options = RunOptions(timeout=timeout, database=None, memory_limit=memory_limit)
        key = (timeout, memory_limit)
        if key not in made:
            made[key] = Pool(options, jobs=1)  # one test at a time per pytest worker
        return made[key], options

    yield pool
    for made_pool in made.values():
        made_pool.close()


@pytest.mark.parametrize("path", list(faulty_files()))
def test_faulty_implementation_is_judged_without_crashing_the_harness(path, tmp_path, pools):
    target = path
    if path.suffix == ".txt":  # kept as .txt so tools do not trip over it
        target = tmp_path / "syntax_error.py"
        shutil.copy(path, target)
    pool, options = pools((constant(path, "TIMEOUT") if path.suffix == ".py" else None) or DEFAULT_TIMEOUT, None)
    expect_exit = constant(path, "EXPECT_EXIT") if path.suffix == ".py" else int((FAULTY / "syntax_error.expect").read_text())
    if expect_exit is not None:
        assert expect_exit == 2
        with pytest.raises(TargetError) as caught:
            Certification(resolve(str(target)), SPEC, options, pool)
        assert target.name in str(caught.value) and "Traceback" not in str(caught.value)
        return
    started = time.monotonic()
    certification = Certification(resolve(str(target)), SPEC, options, pool)
    certification.run()
    certificate = certification.certificate().to_json()
    expect = constant(path, "EXPECT")
    assert certificate["complete"] is True
    for block, verdict in expect.items():
        judged = certificate["blocks"][block]
        assert judged["verdict"] == verdict, (block, judged)
        failing = [c for c in judged["clauses"] if c["status"] == "fail"]
        assert all(c["message"] for c in failing)
    for block in certificate["blocks"].values():  # every clause the spec declares was judged
        assert "not_run" not in block
    clauses = sum(len(b.get("clauses", [])) for b in certificate["blocks"].values())
    assert time.monotonic() - started < clauses * (options.timeout + 5), "a clause outlived its timeout"


def test_memory_guard_reports_the_limit_and_spares_address_space(pools):
    """Reserving 256 GiB of address space is free; touching memory past the limit fails with the reason.

    tests/corpus/memory/se_memory_hog_touching.py fills 256 MiB blocks up to 64 GiB; one clause is
    enough to show the guard (each clause would cost a process filling 2 GiB).
    """
    pool, options = pools(DEFAULT_TIMEOUT, 2 * GIB)
    reserving = Certification(resolve(str(FAULTY / "se_reserves_address_space.py")), SPEC, options, pool)
    reserving.run(only=[Task("se", "oracle.output")])
    assert reserving.results[Task("se", "oracle.output")].status == "pass"
    hog = Certification(resolve(str(MEMORY / "se_memory_hog_touching.py")), SPEC, options, pool)
    started = time.monotonic()
    hog.run(only=[Task("se", "shape.preserved")])
    result = hog.results[Task("se", "shape.preserved")]
    assert result.status == "fail"
    assert "of memory, over attncert's limit of 2.0 GiB" in result.message, result.message
    assert time.monotonic() - started < 60


def slow_adapter(tmp_path: Path) -> Path:
    """A correct SE and ECA (the reference's), each forward slowed down: a run takes a while."""
    path = tmp_path / "slow.py"
    path.write_text(
        "import time\n"
        f"import importlib.util\nspec = importlib.util.spec_from_file_location('ref', {str(resolve('reference').path)!r})\n"
        "ref = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(ref)\n\n"
        "def slowed(module):\n"
        "    forward = module.forward\n"
        "    def slow_forward(x):\n        time.sleep(0.02)\n        return forward(x)\n"
        "    module.forward = slow_forward\n    return module\n\n"
        "def se(*, in_channel, ratio):\n    return slowed(ref.se(in_channel=in_channel, ratio=ratio))\n\n"
        "def eca(*, in_channel, b, gamma):\n    return slowed(ref.eca(in_channel=in_channel, b=b, gamma=gamma))\n"
    )
    return path


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_writes_an_honest_partial_certificate(tmp_path, signum, status):
    """Unfinished blocks are incomplete (never fail for the interrupt); the clause in flight is not recorded."""
    cert = tmp_path / "cert.json"
    cert.write_text('{"old": "certificate"}\n')
    process = subprocess.Popen(
        cli_argv("certify", slow_adapter(tmp_path), "--json", cert, "--quiet", "--database", "none", "--jobs", "1"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr.readline().startswith("certifying"), "the run did not start"
    time.sleep(2)  # clauses are running now
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    data = json.loads(cert.read_text())  # valid JSON: never half-written
    assert data["complete"] is False
    assert "interrupted" in err
    verdicts = [b["verdict"] for b in data["blocks"].values()]
    assert "incomplete" in verdicts and "fail" not in verdicts, verdicts
    for block in data["blocks"].values():
        for clause in block.get("clauses", []):
            assert "SIGKILL" not in clause["message"] and clause["status"] != "fail", clause
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".cert.json.")]
    assert not leftovers, leftovers


def test_a_compiling_runtime_gets_a_longer_clause_timeout():
    """Compiling a graph per new kind of input is torch's time, not the block's: under compile a
    clause may take five times --timeout before its worker is killed as hung."""
    from conformance.options import RunOptions

    assert RunOptions(timeout=10).clause_timeout == 10
    assert RunOptions(timeout=10, runtime="export").clause_timeout == 10
    assert RunOptions(timeout=10, runtime="compile").clause_timeout == 50
