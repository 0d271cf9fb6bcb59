"""`attncert list`, `attncert explain` (what a clause checks, where it comes from, causes, fixes) and
`attncert replay` (re-run a saved certificate's failing cases), through ``conformance.explain``,
which the commands print; neither list nor explain imports torch. (The commands as a newcomer types
them: test_docs_walkthrough.py; every clause's docstring: test_clauses.py.)
"""

import json
import os
import re
import shutil

import pytest

from conftest import overlong_lines, printed_commands, run_python
from conformance import certify
from conformance.certificate import write_json
from conformance.clauses import CLAUSES, clauses_for
from conformance.explain import CertificateError, explain, list_clauses, replay
from conformance.spec import load_spec
from conformance.targets import TargetError

SPEC = load_spec()

SE_HEADER = """\
from torch import nn


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
"""
SE_FOOTER = """
    def forward(self, x):
        gate = self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
"""
BROKEN_SE = SE_HEADER + """\
        self.fc1 = nn.Linear(in_channel, in_channel // ratio)  # PyTorch's default: bias=True
        self.fc2 = nn.Linear(in_channel // ratio, in_channel)
""" + SE_FOOTER
FIXED_SE = BROKEN_SE.replace("in_channel // ratio)  # PyTorch's default: bias=True", "in_channel // ratio, bias=False)") \
                    .replace("(in_channel // ratio, in_channel)", "(in_channel // ratio, in_channel, bias=False)")
BIASED_SE_DECLARED = "VARIANTS = {'se': {'bias': True}}\n" + BROKEN_SE
CASE = {"in_channel": 4, "ratio": 4, "input_shape": [1, 4, 1, 1], "dtype": "float64", "memory_format": "contiguous", "seed": 0}


# ---------------------------------------------------------------- attncert list
def test_list_shows_every_clause_of_every_block_grouped():
    text = list_clauses(SPEC)
    sections = text.split("\n\n")
    for name in SPEC.blocks:
        section = next(s for s in sections if s.startswith(f"{name} — "))
        # a clause a line (2 spaces in), its statement wrapped onto deeper indented lines
        listed = [line.split()[0] for line in section.splitlines()[1:] if line.startswith("  ") and line[2] != " "]
        assert listed == [c.id for c in clauses_for(name, SPEC)]
    assert "needs CUDA" in text
    assert CLAUSES["params.count"].summary in " ".join(text.split())
    assert not overlong_lines(text)


def test_list_one_block():
    text = list_clauses(SPEC, "eca")
    assert text.startswith("eca — Efficient Channel Attention")
    assert "invariant.kernel_size" in text and "se — " not in text
    assert "invariant.composition" not in text  # CBAM only


def test_list_unknown_block_is_an_error_naming_the_blocks():
    with pytest.raises(ValueError, match="known: se, eca"):
        list_clauses(SPEC, "senet")


# ---------------------------------------------------------------- attncert explain
def test_explain_plain_clause():
    text = explain(SPEC, "params.count")
    assert text.startswith("params.count\n")
    assert "Applies to:     se, eca, channel_attention, spatial_attention, cbam" in text
    assert "bias=False" in text  # the fix
    assert "2 * C * hidden" in text  # the spec's formula
    for label in ("What it checks:", "Source:", "Typical causes:", "How to fix:"):
        assert label in text


@pytest.mark.parametrize("given", ["eca::invariant.kernel_size", "eca::invariant.kernel_size[variant]",
                                   "reference::eca::invariant.kernel_size"])
def test_explain_block_qualified_invariant(given):
    text = explain(SPEC, given)
    assert text.startswith("eca::invariant.kernel_size\n")
    invariant = SPEC.invariants["kernel_size"]
    flat = " ".join(text.split())
    assert " ".join(invariant["statement"].split()) in flat
    assert " ".join(invariant["source"].split()) in flat
    assert "odd_up(trunc(abs((log2(C) + b) / gamma)))" in flat  # the block's kernel formula
    assert "spatial_attention:" not in text  # only the named block's details
    assert "arxiv.org/abs/1910.03151" in flat  # the ECA paper


def test_explain_lists_the_blocks_an_invariant_applies_to():
    text = explain(SPEC, "invariant.channel_permutation")
    assert "Applies to:     spatial_attention, simam\n" in text
    assert "not required when" not in text
    assert "not required when batchnorm" in explain(SPEC, "spatial_attention::invariant.train_eval")
    assert "in train mode only when not batchnorm" in explain(SPEC, "spatial_attention::invariant.batch_independent")


def test_explain_unknown_clause_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        explain(SPEC, "oracle.outptu")
    for cid in CLAUSES:
        assert cid in str(err.value)


def test_explain_unknown_block_or_clause_not_declared_for_it():
    with pytest.raises(ValueError, match="unknown block 'senet'"):
        explain(SPEC, "senet::oracle.output")
    with pytest.raises(ValueError, match="applies to: eca, spatial_attention"):
        explain(SPEC, "se::invariant.kernel_size")


def test_the_harness_never_imports_torch_to_list_or_explain(tmp_path):
    """list and explain read clause names and docstrings without loading torch (2-4 s each)."""
    code = ("import sys, io, contextlib; from conformance.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['list']) == 0 and main(['explain', 'se::oracle.output']) == 0\n"
            "print('torch._C' in sys.modules)")
    done = run_python(code, cwd=tmp_path, env={"PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- attncert replay
@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A folder with broken.py (SE with PyTorch's default biases) and its certificate broken.json."""
    folder = tmp_path_factory.mktemp("broken")
    (folder / "broken.py").write_text(BROKEN_SE)
    where = os.getcwd()
    os.chdir(folder)  # the run's example database (.attncert/examples) goes there, not into the checkout
    try:
        certificate = certify(str(folder / "broken.py"))
    finally:
        os.chdir(where)
    write_json(certificate, folder / "broken.json")
    return folder, json.loads((folder / "broken.json").read_text())


def copy_project(broken, tmp_path):
    folder, _ = broken
    shutil.copy(folder / "broken.py", tmp_path / "broken.py")
    cert = json.loads((folder / "broken.json").read_text())
    cert["implementation"] = "broken.py"  # relative, as `attncert certify broken.py` writes it
    (tmp_path / "broken.json").write_text(json.dumps(cert))
    return tmp_path


def failing_ids(cert):
    return [c["id"] for c in cert["blocks"]["se"]["clauses"] if c["status"] == "fail"]


def test_the_broken_adapter_fails_with_counterexamples(broken):
    _, cert = broken
    assert cert["blocks"]["se"]["verdict"] == "fail"
    assert {"params.count", "weights.transfer", "oracle.output"} <= set(failing_ids(cert))
    for c in cert["blocks"]["se"]["clauses"]:
        if c["status"] == "fail":
            assert c["counterexample"] is not None


def test_replay_unchanged_adapter_still_fails(broken, tmp_path, monkeypatch):
    project = copy_project(broken, tmp_path)
    monkeypatch.chdir(project)
    text, status = replay("broken.json", timeout=120)
    assert status == 1, text
    for cid in failing_ids(broken[1]):
        assert re.search(rf"se::{re.escape(cid)}\s+STILL FAILS", text), text
    commands = printed_commands(text)
    assert commands and all(str(project / "broken.py") in c for c in commands), text  # a path that works anywhere
    assert any(" se::params.count --case " in c for c in commands)
    assert "now passes" not in text
    assert "has changed since the certificate" not in text


def test_replay_warns_when_the_file_changed(broken, tmp_path, monkeypatch):
    project = copy_project(broken, tmp_path)
    (project / "broken.py").write_text(FIXED_SE)
    monkeypatch.chdir(project)
    text, _ = replay("broken.json", timeout=120, clauses=["se::params.count"])
    assert "broken.py has changed since the certificate was made" in text
    assert text.count("se::") == 1, text  # only the clause asked for


def test_replay_fixed_adapter_now_passes(broken, tmp_path, monkeypatch):
    project = copy_project(broken, tmp_path)
    (project / "broken.py").write_text(FIXED_SE)
    monkeypatch.chdir(project)
    text, status = replay(project / "broken.json", timeout=120)
    assert status == 0, text
    for cid in failing_ids(broken[1]):
        assert re.search(rf"se::{re.escape(cid)}\s+now passes", text), text
    assert f"all {len(failing_ids(broken[1]))} failing cases now pass" in text


def test_replay_finds_a_relative_target_beside_the_certificate(broken, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    copy_project(broken, project)
    (project / "broken.py").write_text(FIXED_SE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text, status = replay(project / "broken.json", timeout=120)
    assert status == 0, text


def write_cert(path, implementation, se_block):
    path.write_text(json.dumps({"implementation": implementation, "environment": {}, "complete": True,
                                "blocks": {"se": se_block, "eca": {"verdict": "absent"}}}))
    return path


def clause(cid, status="fail", counterexample=CASE, message="it failed"):
    return {"id": cid, "status": status, "message": message, "counterexample": counterexample, "reproduce": None}


def test_replay_a_declared_variant_case(tmp_path, monkeypatch):
    """A failure under the declared variant is replayed under that variant (and now passes there)."""
    (tmp_path / "biased.py").write_text(BIASED_SE_DECLARED)
    cert = write_cert(tmp_path / "cert.json", "biased.py", {
        "verdict": "fail",
        "variant": {"declared": {"bias": True}, "verdict": "fail", "clauses": [clause("oracle.output")]},
        "clauses": [clause("params.count"), clause("construct", "pass", None)],
    })
    monkeypatch.chdir(tmp_path)
    text, status = replay(cert, timeout=120)
    assert status == 1, text  # the plain failure (biases) remains
    assert re.search(r"se::params.count\s+STILL FAILS", text)
    assert re.search(r'se::oracle.output \[under variant bias=true\]\s+now passes', text)
    assert "--variant" not in text  # only the still-failing plain case gets a reproduce line


def test_replay_cannot_confirm_what_it_cannot_run(tmp_path, monkeypatch):
    (tmp_path / "eca_only.py").write_text("from torch import nn\n\ndef eca(*, in_channel, b, gamma):\n    return nn.Identity()\n")
    cert = write_cert(tmp_path / "cert.json", "eca_only.py", {
        "verdict": "fail", "variant": None,
        "clauses": [clause("params.count"), clause("deterministic", counterexample=None, message="no result within the 1 s timeout"),
                    clause("no.such.clause")],
    })
    monkeypatch.chdir(tmp_path)
    text, status = replay(cert, timeout=120)
    assert status == 1, text
    assert re.search(r"se::params.count\s+NOT REPLAYED", text) and "no longer provides se" in text
    assert re.search(r"se::deterministic\s+NOT REPLAYED", text) and "no counterexample was recorded" in text
    assert re.search(r"se::no.such.clause\s+NOT REPLAYED", text)
    assert "0 of 3 failing cases now pass" in text


def test_replay_without_failures_has_nothing_to_do(tmp_path):
    cert = write_cert(tmp_path / "cert.json", "gone.py", {"verdict": "pass", "variant": None, "clauses": [clause("construct", "pass", None)]})
    text, status = replay(cert)
    assert status == 0 and "nothing to replay" in text


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the certificate"),
    ("{not json", "is not JSON"),
    ("[1, 2]", "is not an attncert certificate"),
    ('{"implementation": "x.py", "blocks": {"se": {"verdict": "maybe"}}}', "no valid verdict"),
    ('{"implementation": "x.py", "blocks": {"se": {"verdict": "fail", "clauses": [{"id": "construct"}]}}}', "malformed clause"),
])
def test_replay_invalid_certificate(tmp_path, content, message):
    path = tmp_path / "cert.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CertificateError, match=message):
        replay(path)


def test_replay_missing_target_is_a_target_error(tmp_path, monkeypatch):
    cert = write_cert(tmp_path / "cert.json", "gone.py", {"verdict": "fail", "variant": None, "clauses": [clause("params.count")]})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TargetError, match="gone.py.*--target"):
        replay(cert)


def test_replay_target_override(broken, tmp_path, monkeypatch):
    project = copy_project(broken, tmp_path)
    (project / "renamed.py").write_text(FIXED_SE)
    (project / "broken.py").unlink()
    monkeypatch.chdir(project)
    text, status = replay("broken.json", timeout=120, target="renamed.py")
    assert status == 0, text
    assert text.startswith("replaying broken.json (made for broken.py, against renamed.py)")
    assert "has changed since the certificate" not in text  # another file, not a changed one


def test_explain_names_the_authors_code_of_a_block_the_documents_do_not_define():
    text = explain(SPEC, "coord_attention::oracle.output")
    assert "the authors' code: github.com/Andrew-Qibin/CoordAttention" in " ".join(text.split())
    assert "not in the documents" not in text and "documents not" not in text
    assert not overlong_lines(text)


def test_replay_output_fits_80_columns(broken, tmp_path, monkeypatch):
    project = copy_project(broken, tmp_path)
    monkeypatch.chdir(project)
    text, _ = replay("broken.json", timeout=120)
    assert not overlong_lines(text), text
