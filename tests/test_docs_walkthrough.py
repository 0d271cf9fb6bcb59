"""The README's newcomer walkthrough, command by command.

Write ``impl/mine.py`` with a defect, ``attncert certify mine`` (exit 1), ``attncert explain`` the
failing clause (it names the fix), fix the file, ``attncert replay`` the certificate (exit 0: every
failing case now passes), ``attncert certify mine`` again (exit 0). The README shows exactly the
file and the commands run here.

``impl/`` here is a temporary folder: the CLI runs in a child process whose impl folder is that
one (``run_cli(..., impl_dir=...)``), so ``mine`` resolves by its stem exactly as a file in the
repository's ``impl/`` would, without touching the checkout.

The ``list`` / ``explain`` / ``replay`` steps run twice: through ``conformance.explain`` directly,
and through the command line.
"""

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

import conformance.targets
from conftest import ROOT, printed_commands, run_cli
from conformance.explain import explain, list_clauses, replay
from conformance.spec import load_spec

README = ROOT / "README.md"
HEADING = "### Walkthrough: certify, explain, fix, replay"

MINE = '''\
# impl/mine.py
from torch import nn


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel)

    def forward(self, x):
        gate = self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
'''
FIXES = {
    "nn.Linear(in_channel, in_channel // ratio)": "nn.Linear(in_channel, in_channel // ratio, bias=False)",
    "nn.Linear(in_channel // ratio, in_channel)": "nn.Linear(in_channel // ratio, in_channel, bias=False)",
}
FAILING = "se::params.count"
COMMANDS = [
    "attncert list se",
    "attncert certify mine --json mine.json",
    "attncert explain se::params.count",
    "attncert replay mine.json",
    "attncert certify mine --json mine.json",
]

def fixed(source: str) -> str:
    for old, new in FIXES.items():
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


def attncert(folder: Path, command: str, timeout=900):
    """Run one walkthrough command in ``folder`` (its ``impl/`` is the impl folder)."""
    args = command.split()
    assert args[0] == "attncert"
    return run_cli(*args[1:], cwd=folder, impl_dir=folder / "impl", timeout=timeout)


def new_project(tmp_path: Path, source: str = MINE) -> Path:
    (tmp_path / "impl").mkdir()
    (tmp_path / "impl" / "mine.py").write_text(source)
    return tmp_path


@pytest.fixture(scope="module")
def certified(tmp_path_factory):
    """Steps 1-2: impl/mine.py with the defect, `attncert certify mine --json mine.json`."""
    folder = new_project(tmp_path_factory.mktemp("walkthrough"))
    done = attncert(folder, COMMANDS[1])
    return folder, done


def project_after_step_2(certified, tmp_path) -> Path:
    folder, _ = certified
    shutil.copytree(folder / "impl", tmp_path / "impl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(folder / "mine.json", tmp_path / "mine.json")
    return tmp_path


# ---------------------------------------------------------------- the README shows what is tested
def readme_section() -> str:
    text = README.read_text()
    assert HEADING in text, f"the README has no {HEADING!r} section"
    section = text.split(HEADING, 1)[1]
    return re.split(r"\n#{2,3} ", section, maxsplit=1)[0]


def test_readme_walkthrough_shows_the_tested_file_and_commands():
    """Every command of the README's walkthrough is one this file runs, and its file is MINE."""
    fences = [(lang, textwrap.dedent(body)) for lang, body in
              re.findall(r"^ *```(\w*)\n(.*?)^ *```", readme_section(), re.M | re.S)]
    python = [body for lang, body in fences if lang == "python"]
    assert python and python[0].strip() == MINE.strip(), "the walkthrough shows impl/mine.py as tested here"
    commands = [re.sub(r"^\.venv/bin/", "", line.split("#")[0].strip())
                for lang, body in fences if lang in ("sh", "bash", "console")
                for line in body.splitlines() if re.match(r"(\.venv/bin/)?attncert ", line.strip())]
    assert commands == COMMANDS
    for new in FIXES.values():
        assert new in readme_section(), "the walkthrough shows the fix"


# ---------------------------------------------------------------- step 2: certify (exit 1)
def test_step_2_certify_mine_fails(certified):
    folder, done = certified
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"✗ {FAILING}" in done.stdout
    assert "counterexample:" in done.stdout
    assert f"attncert replay {folder / 'mine.json'} {FAILING}" in printed_commands(done.stdout)  # works from anywhere
    cert = json.loads((folder / "mine.json").read_text())
    assert cert["implementation"] == "mine"
    assert cert["blocks"]["se"]["verdict"] == "fail"
    failing = {c["id"] for c in cert["blocks"]["se"]["clauses"] if c["status"] == "fail"}
    assert FAILING.split("::")[1] in failing


# ---------------------------------------------------------------- steps 1 and 3: list, explain
def test_step_1_list_shows_the_clauses():
    text = list_clauses(load_spec(), "se")
    assert text.startswith("se — Squeeze-and-Excitation")
    assert "params.count" in text


def test_step_3_explain_names_the_cause_and_the_fix():
    text = explain(load_spec(), FAILING)
    assert text.startswith(FAILING)
    assert "bias=True is PyTorch's default" in text
    assert "bias=False" in text


def test_step_1_list_cli(tmp_path):
    done = attncert(new_project(tmp_path), COMMANDS[0], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("se — ") and "params.count" in done.stdout and "\neca — " not in done.stdout


def test_step_3_explain_cli(tmp_path):
    done = attncert(new_project(tmp_path), COMMANDS[2], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bias=False" in done.stdout
    unknown = attncert(tmp_path, "attncert explain se::no.such.clause", timeout=300)
    assert unknown.returncode == 2
    assert "params.count" in unknown.stderr  # the known ids
    assert "Traceback" not in unknown.stderr


# ---------------------------------------------------------------- steps 4-5: fix, replay (exit 0)
def test_step_5_replay_before_the_fix_still_fails(certified, tmp_path, monkeypatch):
    folder = project_after_step_2(certified, tmp_path)
    monkeypatch.setattr(conformance.targets, "IMPL_DIR", folder / "impl")
    monkeypatch.chdir(folder)
    text, status = replay("mine.json")
    assert status == 1, text
    assert re.search(rf"{re.escape(FAILING)}\s+STILL FAILS", text), text


def test_step_5_replay_after_the_fix_passes(certified, tmp_path, monkeypatch):
    folder = project_after_step_2(certified, tmp_path)
    (folder / "impl" / "mine.py").write_text(fixed(MINE))
    monkeypatch.setattr(conformance.targets, "IMPL_DIR", folder / "impl")
    monkeypatch.chdir(folder)
    text, status = replay("mine.json")
    assert status == 0, text
    assert re.search(rf"{re.escape(FAILING)}\s+now passes", text), text
    assert "now pass" in text.splitlines()[-1]


def test_step_5_replay_cli(certified, tmp_path):
    folder = project_after_step_2(certified, tmp_path)
    before = attncert(folder, COMMANDS[3], timeout=600)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "STILL FAILS" in before.stdout
    (folder / "impl" / "mine.py").write_text(fixed(MINE))
    after = attncert(folder, COMMANDS[3], timeout=600)
    assert after.returncode == 0, after.stdout + after.stderr
    assert re.search(rf"{re.escape(FAILING)}\s+now passes", after.stdout), after.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = attncert(folder, f"attncert replay {bad}", timeout=300)
    assert broken.returncode == 2 and "is not JSON" in broken.stderr and "Traceback" not in broken.stderr


def test_step_5_certify_again_passes(certified, tmp_path):
    folder = project_after_step_2(certified, tmp_path)
    (folder / "impl" / "mine.py").write_text(fixed(MINE))
    done = attncert(folder, COMMANDS[4])
    assert done.returncode == 0, done.stdout + done.stderr
    cert = json.loads((folder / "mine.json").read_text())
    assert cert["blocks"]["se"]["verdict"] == "pass"
