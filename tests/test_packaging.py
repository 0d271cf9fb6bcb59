"""How attncert ships and how its suite runs: a wheel built from this checkout carries the spec and
the bundled implementations and certifies from anywhere; the GitHub Actions workflow runs the same
tox matrix as tox.ini (it cannot run here; its shape can be checked); and the suite's test command
(tox.ini, .ci/run) keeps each test module on one pytest-xdist worker.
"""

import configparser
import re
import shlex
import subprocess
import sys
import zipfile

import pytest
import yaml

from conftest import ROOT, run_cli, run_pytest, run_python

WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"
TOX_E = re.compile(r"\btox\s+(?:run\s+)?-e\s+(\$\{\{[^}]*\}\}|\S+)")


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
    where = run_python("import conformance.spec as s; print(s.SPEC_DIR)", cwd=elsewhere, env=env)
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr  # the wheel's copy, not the checkout
    done = run_cli("certify", "reference", "--block", "se", "--quiet", "--database", "none", cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "se                 PASS" in done.stdout


# ---------------------------------------------------------------- the workflow and tox
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
    assert "matrix" in tox_envs, "tox.ini has no matrix env"
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


# ---------------------------------------------------------------- the suite's test command
def suite_command() -> list[str]:
    """pytest's arguments in the suite's test command: tox.ini's [testenv] and .ci/run run the same."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    tox_argv = [a for a in shlex.split(tox["testenv"]["commands"]) if a != "{posargs}"]
    assert tox_argv[:3] == ["python", "-m", "pytest"], tox_argv
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if re.match(r"\S*python\S* -m pytest\b", line.strip())]
    assert len(ci) == 1, ci
    ci_argv = shlex.split(ci[0])
    assert ci_argv[1:] == tox_argv[1:], (ci_argv, tox_argv)
    return tox_argv[3:]


def test_the_test_command_keeps_each_module_on_one_worker(tmp_path):
    """Under the suite's command (``-n 2 --dist loadfile``) every test of a module runs on one xdist
    worker, so its module-scoped fixtures (a certification, a worker pool, the mutants) are made once;
    with tests spread one by one (plain ``-n 2``) this fails."""
    args = suite_command()
    assert "-n" in args, args
    body = ("import os\nimport pytest\n\n@pytest.mark.parametrize('i', range(8))\ndef test_where(i):\n"
            "    with open(os.environ['WHERE'], 'a') as log:\n"
            "        log.write(f\"{__name__} {os.environ['PYTEST_XDIST_WORKER']}\\n\")\n")
    for name in ("test_certifies.py", "test_elsewhere.py"):
        (tmp_path / name).write_text(body)
    where = tmp_path / "where.txt"
    done = run_pytest(*args, "-q", cwd=tmp_path, own_rootdir=True, env={"WHERE": str(where)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str, set] = {}
    for line in where.read_text().splitlines():
        module, worker = line.split()
        workers.setdefault(module, set()).add(worker)
    assert set(workers) == {"test_certifies", "test_elsewhere"}, workers
    assert len(set().union(*workers.values())) == 2, f"the command does not run two workers: {workers}"
    assert all(len(ran_on) == 1 for ran_on in workers.values()), f"a module's tests ran on several workers: {workers}"
