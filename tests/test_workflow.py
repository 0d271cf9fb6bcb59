"""The GitHub Actions workflow runs the same tox matrix as tox.ini (it cannot run here; its shape can be
checked), and the README's test command schedules the suite as tests/conftest.py says."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"
TOX_E = re.compile(r"\btox\s+(?:run\s+)?-e\s+(\$\{\{[^}]*\}\}|\S+)")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def tox_list() -> dict[str, list[str]]:
    """`tox list`: its default environments (what plain `tox` runs) and its additional ones."""
    done = subprocess.run([sys.executable, "-m", "tox", "list"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    sections: dict[str, list[str]] = {}
    current = None
    for line in done.stdout.splitlines():
        if line.endswith("environments:"):
            current = sections.setdefault(line.split()[0], [])
        elif line.strip() and current is not None:
            current.append(line.split("->")[0].strip())
    assert sections.get("default") and all(re.fullmatch(r"[\w.-]+", e) for e in sum(sections.values(), [])), done.stdout
    return sections


@pytest.fixture(scope="module")
def tox_sections() -> dict[str, list[str]]:
    return tox_list()


@pytest.fixture(scope="module")
def tox_envs(tox_sections) -> list[str]:
    return tox_sections["default"] + tox_sections.get("additional", [])


def test_plain_tox_runs_only_the_test_suite(tox_sections):
    """`tox` alone must not install the ~5.5 GB library environments: its default is the tests."""
    assert tox_sections["default"] == ["py311"]


def workflow_envs(workflow: dict) -> dict[str, list[str]]:
    """job name -> the tox envs its steps run (``tox -e ${{ matrix.env }}`` expands to the matrix)."""
    found = {}
    for name, job in workflow["jobs"].items():
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        envs = []
        for step in job["steps"]:
            for target in TOX_E.findall(step.get("run", "")):
                if re.fullmatch(r"\$\{\{\s*matrix\.env\s*\}\}", target):
                    envs += list(matrix["env"])
                else:
                    envs += target.split(",")
        found[name] = envs
    return found


def test_runs_on_every_push(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "push" in triggers
    push = triggers["push"] if isinstance(triggers, dict) else None
    assert not push, "no branch or path filters: every push"


def test_env_names_are_tox_envs(workflow, tox_envs):
    envs = [e for job in workflow_envs(workflow).values() for e in job]
    assert envs, "the workflow runs no tox env"
    assert len(envs) == len(set(envs)), f"an env runs twice: {envs}"
    assert set(envs) <= set(tox_envs), f"not in `tox list`: {sorted(set(envs) - set(tox_envs))}"


LOCAL_ONLY = {"bench"}  # timings of the machine it runs on: not a CI job


def test_every_tox_env_runs_in_the_workflow(workflow, tox_envs):
    """The same matrix: each env of `tox list` (the tests, every certify-*, the matrix, the selftest) has a job."""
    envs = {e for job in workflow_envs(workflow).values() for e in job}
    certify = [e for e in tox_envs if e.startswith("certify-")]
    assert certify, tox_envs
    assert set(certify) <= envs, f"certify envs missing from the workflow: {sorted(set(certify) - envs)}"
    wanted = set(tox_envs) - LOCAL_ONLY
    assert wanted <= envs, f"tox envs missing from the workflow: {sorted(wanted - envs)}"


def test_jobs_install_tox_on_python_311(workflow):
    for name, job in workflow["jobs"].items():
        steps = job["steps"]
        setup = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
        assert setup and str(setup[0]["with"]["python-version"]) == "3.11", name
        assert any(re.search(r"pip install tox\b", s.get("run", "")) for s in steps), name
        assert any(str(s.get("uses", "")).startswith("actions/checkout@") for s in steps), name


def test_matrix_job_aggregates_the_certify_jobs_certificates(workflow, tox_envs):
    """tox's `matrix` env reads certificates/*.json: in CI those come from the certify-* jobs."""
    if "matrix" not in tox_envs:
        pytest.skip("tox.ini has no matrix env")
    jobs = workflow_envs(workflow)
    runner = next(name for name, envs in jobs.items() if "matrix" in envs)
    certifiers = [name for name, envs in jobs.items() if any(e.startswith("certify-") for e in envs)]
    needs = workflow["jobs"][runner].get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    assert set(certifiers) <= set(needs)
    uploads = [s for name in certifiers for s in workflow["jobs"][name]["steps"] if "upload-artifact" in str(s.get("uses", ""))]
    downloads = [s for s in workflow["jobs"][runner]["steps"] if "download-artifact" in str(s.get("uses", ""))]
    assert uploads and downloads
    assert uploads[0]["with"]["path"].rstrip("/") == downloads[0]["with"]["path"].rstrip("/") == "certificates"
    tox_ini = (ROOT / "tox.ini").read_text()
    assert "certificates/{env:TARGET}.json" in tox_ini  # where the certify envs write their certificates


def test_the_test_command_keeps_each_listed_module_on_one_worker(tmp_path):
    """Under `pytest -n 2` every test of a module in tests/conftest.py's ONE_WORKER_MODULES runs on one
    worker, so its module-scoped certification runs once (xdist's loadgroup stopped doing it unnoticed)."""
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    body = ("import os\nimport pytest\n\n@pytest.mark.parametrize('i', range(8))\ndef test_where(i):\n"
            "    with open(os.environ['WHERE'], 'a') as log:\n"
            "        log.write(f\"{__name__} {os.environ['PYTEST_XDIST_WORKER']}\\n\")\n")
    for name in ("test_certify.py", "test_elsewhere.py"):
        (tmp_path / name).write_text(body)
    where = tmp_path / "where.txt"
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "WHERE": str(where)})
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str, set] = {}
    for line in where.read_text().splitlines():
        module, worker = line.split()
        workers.setdefault(module, set()).add(worker)
    assert sum(len(s) for s in workers.values()) >= 2 and len(workers["test_certify"]) == 1, workers
