"""The Python API's ``parametrize_with_checks`` used from another project's test suite, exactly as
that project would.

tests/outside_project/ is a tiny stand-alone project, ``tinyattn`` (its own pyproject.toml), whose
test file imports only ``from conformance import parametrize_with_checks``. Its ECA clamps the
kernel to k >= 3 like timm, listed as expected failures with a reason (strict: a stale entry fails
the run, a mistyped one is a collection error) and declared as a VARIANT. Here pytest runs on that
folder in a child process, as the project's CI would; attncert's own run does not collect it. A
relative target is found beside the test file. (``certify()``: test_engine_search.py,
test_declarations.py.)
"""

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import MINIMAL_SE, ROOT, run_pytest

PROJECT = ROOT / "tests" / "outside_project"
REASON = "we clamp the ECA kernel to k >= 3, like timm (declared as the kernel_min=3 variant)"
EXPECTED = {f"eca::{c}" for c in ("params.count", "weights.transfer", "oracle.output", "oracle.input_grad",
                                  "oracle.param_grad", "gradcheck", "gradgradcheck", "invariant.kernel_size")}


def outcomes(junit: Path) -> dict[str, str]:
    """Test id (the parametrize id, e.g. ``eca::params.count``) -> passed | failed | skipped | xfailed."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        cid = re.fullmatch(r"test_tinyattn_conforms\[(.*)\]", case.get("name")).group(1)
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            found[cid] = "failed"
        elif skipped is not None:
            found[cid] = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            found[cid] = "passed"
    return found


def test_main_run_does_not_collect_the_outside_project(request):
    config = request.config
    if (config.args_source == pytest.Config.ArgsSource.TESTPATHS and not config.option.keyword
            and not config.option.markexpr and not config.option.deselect):
        collected = "\n".join(item.nodeid for item in request.session.items)  # this run is the main run
    else:
        done = run_pytest("-q", "--co", cwd=ROOT, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        collected = done.stdout
    assert f"{Path(__file__).name}::" in collected  # this file is collected
    assert "tinyattn" not in collected and "outside_project/" not in collected


def test_outside_test_imports_only_the_public_api():
    source = (PROJECT / "test_tinyattn_conformance.py").read_text()
    imports = re.findall(r"^\s*(?:from\s+(\S+)\s+import\s+(.+)|import\s+(\S+))", source, re.M)
    assert ("conformance", "parametrize_with_checks", "") in imports
    for module, names, plain in imports:
        if "conformance" in (module + plain):
            assert module == "conformance" and not plain, "only the package's public names, no submodules"
            import conformance

            assert {n.strip() for n in names.split(",")} <= set(conformance.__all__)
    assert "conformance" not in (PROJECT / "tinyattn" / "__init__.py").read_text()  # the adapter needs no attncert


def test_outside_project_passes_with_its_expected_failures_as_xfail(tmp_path):
    """`python -m pytest tests/outside_project`, as the outside project's CI would run it."""
    junit = tmp_path / "junit.xml"
    done = run_pytest("tests/outside_project", "-q", "-rxXs", f"--junitxml={junit}", cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    # each expected failure is reported as XFAIL with its reason
    for cid in EXPECTED:
        assert re.search(rf"XFAIL \S*test_tinyattn_conforms\[{re.escape(cid)}\] - {re.escape(REASON)}", output), output[-6000:]
    results = outcomes(junit)
    assert {cid for cid, status in results.items() if status == "xfailed"} == EXPECTED
    # every other clause passes, under the plain spec and under the declared variant; a skip only
    # where CUDA is missing (never counted as a pass)
    assert "se::oracle.output" in results and "eca::invariant.kernel_size[variant]" in results
    for cid, status in results.items():
        if cid in EXPECTED:
            continue
        if status == "skipped":
            assert cid.split("[")[0].endswith("::cuda.agreement"), (cid, output[-4000:])
            assert "CUDA is not available" in output
        else:
            assert status == "passed", (cid, status, output[-4000:])
    assert len(results) >= 40


def test_a_stale_expected_failure_fails_the_run(tmp_path):
    """An expected failure for a clause that passes is an XPASS(strict): the list cannot go stale."""
    copy = tmp_path / "tinyattn_project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("__pycache__", ".attncert", ".hypothesis"))
    test_file = copy / "test_tinyattn_conformance.py"
    source = test_file.read_text()
    marker = "EXPECTED_FAILURES = {\n"
    assert source.count(marker) == 1
    test_file.write_text(source.replace(marker, marker + '    "se::shape.preserved": "stale: this clause passes",\n'))
    junit = tmp_path / "junit.xml"
    done = run_pytest(".", "-k", "se::shape.preserved or eca::params.count", "-q", "-rxXs", f"--junitxml={junit}", cwd=copy)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-6000:]
    assert re.search(r"XPASS\(strict\).*se::shape\.preserved", output) or "[XPASS(strict)] stale: this clause passes" in output, output[-6000:]
    results = outcomes(junit)
    assert results["se::shape.preserved"] == "failed"
    assert results["eca::params.count"] == "xfailed"  # the real deviation is still an expected failure
    assert results["eca::params.count[variant]"] == "passed"


def test_a_mistyped_expected_failure_is_a_collection_error(tmp_path):
    copy = tmp_path / "tinyattn_project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("__pycache__", ".attncert", ".hypothesis"))
    test_file = copy / "test_tinyattn_conformance.py"
    marker = "EXPECTED_FAILURES = {\n"
    test_file.write_text(test_file.read_text().replace(marker, marker + '    "eca::no.such.clause": "typo",\n'))
    done = run_pytest(".", "--co", "-q", "-rxXs", cwd=copy)
    assert done.returncode != 0
    assert "expected_failures names clauses that" in done.stdout + done.stderr
    assert "eca::no.such.clause" in done.stdout + done.stderr


def test_parametrize_with_checks_finds_a_relative_target_beside_the_test_file(tmp_path):
    """A relative path is looked up from the test file's folder, not from where pytest runs."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "mine.py").write_text(MINIMAL_SE)
    (project / "tests" / "test_mine.py").write_text(
        "from conformance import parametrize_with_checks\n\n"
        "@parametrize_with_checks('mine.py')\n"
        "def test_mine(attncert_check):\n    attncert_check()\n"
    )
    done = run_pytest("tests", "-q", "-k", "params or shape", cwd=project, own_rootdir=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
