"""`attncert selftest`: the mutants are real, cover every operator and block, and the harness kills them.

The CI subset is certified once (a module-scoped fixture; the module runs on one pytest-xdist
worker); everything else reads the generated mutants without running them. A survivor is probed
against the oracle, which tells an equivalent mutant from a wrong one; an interrupted selftest
reports what finished; the command needs its extra (libcst). (Each operator's sites:
test_selftest_operators.py.)
"""

import ast
import json
import os
import re
import signal
from argparse import Namespace

import pytest

from conftest import run_cli
from conformance import selftest
from conformance.pool import Interrupted
from conformance.report import selftest_markdown
from conformance.selftest import run
from conformance.selftest.run import Record, classify
from conformance.spec import load_spec

SPEC = load_spec()


@pytest.fixture(scope="module")
def mutants():
    return selftest.prepare()


@pytest.fixture(scope="module")
def subset_run(mutants, tmp_path_factory, request):
    """The CI subset, certified as `attncert selftest --subset` does (ci profile, first failure)."""
    jobs = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
    seed = request.config.getoption("--seed")
    summary, stop = selftest.run_selftest("ci", subset_only=True, folder=tmp_path_factory.mktemp("mutants"), jobs=jobs,
                                          seed=seed, mutants=mutants)
    assert stop is None
    return summary


def test_every_mutant_is_valid_python_that_changes_the_reference(mutants):
    reference = selftest.REFERENCE.read_text(encoding="utf-8")
    reference_code = ast.dump(_without_docstring(ast.parse(reference)))
    for mutant in mutants:
        tree = ast.parse(mutant.source)  # a SyntaxError fails the test
        compile(mutant.source, f"{mutant.id}.py", "exec")
        assert ast.get_docstring(tree).startswith(f"Mutant {mutant.id} "), mutant.id
        assert mutant.description in ast.get_docstring(tree)
        assert ast.dump(_without_docstring(tree)) != reference_code, f"{mutant.id} does not change the code"
        # a plug-in like any adapter: every factory is still defined
        assert {b.factory for b in SPEC.blocks.values()} <= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def _without_docstring(tree):
    tree.body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    return tree


def test_at_least_200_mutants_over_every_operator_and_block(mutants):
    assert len(mutants) >= 200
    assert {m.operator for m in mutants} == set(selftest.OPERATORS)
    assert {b for m in mutants for b in m.blocks} == set(SPEC.blocks)
    assert all(m.blocks for m in mutants), [m.id for m in mutants if not m.blocks]


def test_ids_are_stable_and_unique(mutants):
    ids = [m.id for m in mutants]
    assert len(ids) == len(set(ids))
    for mutant in mutants:
        assert re.fullmatch(rf"{re.escape(mutant.operator)}-{re.escape(mutant.scope)}-[1-9][0-9]*", mutant.id)


def test_blocks_are_those_whose_module_tree_holds_the_mutated_code(mutants):
    blocks = {m.scope: m.blocks for m in mutants}
    assert blocks["ChannelAttention"] == ["channel_attention", "cbam"]
    assert blocks["SpatialAttention"] == ["spatial_attention", "cbam"]
    assert blocks["CBAM"] == ["cbam"]
    assert blocks["eca_kernel_size"] == ["eca"]  # a function: the classes that call it
    assert blocks["SqueezeExcitation"] == ["se"]


def test_ci_subset_is_fixed_and_covers_every_operator_and_block(mutants):
    chosen = selftest.subset(mutants)
    assert len(chosen) >= 50
    assert [m.id for m in chosen] == [m.id for m in selftest.subset(list(mutants))]
    assert {m.operator for m in chosen} == set(selftest.OPERATORS)
    assert {b for m in chosen for b in m.blocks} == set(SPEC.blocks)
    assert not [m.id for m in chosen if m.equivalent]


def test_subset_kills_at_least_98_percent(subset_run):
    assert subset_run["kill_rate"] >= 0.98, subset_run["survivors"]
    assert subset_run["meets_goal"] and subset_run["complete"]
    assert subset_run["mutants"] >= 50
    killed = [r for r in subset_run["records"] if r["status"] == "killed"]
    assert all(r["killed_by"] and r["message"] for r in killed)


def test_report_has_the_required_fields(subset_run):
    summary = json.loads(json.dumps(subset_run))
    for key in ("mutants", "killed", "equivalent", "kill_rate", "survivors", "per_clause", "records"):
        assert key in summary
    assert summary["kill_rate"] == summary["killed"] / (summary["mutants"] - summary["equivalent"])
    assert sum(summary["per_clause"].values()) == summary["killed"]  # first-failure mode: one killer each
    for record in summary["records"]:
        assert {"id", "operator", "blocks", "description", "status", "killed_by", "message"} <= set(record)
        assert record["status"] in ("killed", "survived", "equivalent")
    text = selftest_markdown(summary)
    assert "Which clause kills what" in text and summary["records"][0]["id"] in text


EQUIVALENT_SIMAM = '''
import torch
from torch import nn


class SimAM(nn.Module):
    def __init__(self, e_lambda):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x):
        # the spatial mean through reshape(): the same values for every layout
        mean = x.reshape(x.shape[0], x.shape[1], -1).mean(-1)[:, :, None, None]
        distance = (x - mean).square()
        variance = distance.sum(dim=(2, 3), keepdim=True) / (x.shape[2] * x.shape[3] - 1)
        return x * torch.sigmoid(distance / (4 * (variance + self.e_lambda)) + 0.5)


def simam(*, e_lambda=1e-4):
    return SimAM(e_lambda)
'''


def test_oracle_check_tells_equivalent_from_wrong(tmp_path):
    equivalent = tmp_path / "simam_reshape.py"
    equivalent.write_text(EQUIVALENT_SIMAM)
    # wrong only on larger feature maps (H * W > 24): a check of small inputs only would miss it
    wrong = tmp_path / "simam_large_maps.py"
    wrong.write_text(EQUIVALENT_SIMAM.replace("+ 0.5)", "+ (0.5 if x.shape[2] * x.shape[3] <= 24 else 0.75))"))
    found = selftest.check_survivors([(equivalent, ["simam"]), (wrong, ["simam"])], examples=150, jobs=2)
    assert found[0]["differs"] is False and found[0]["examples"] >= 150
    assert found[0]["clauses"] == sorted(selftest.PROBE_CLAUSES)
    assert found[1]["differs"] and found[1]["block"] == "simam" and "output" in found[1]["message"]

    record = Record("x", "op", ["simam"], "what")
    classify(record, found[0], None)
    assert record.status == "equivalent" and f"{found[0]['examples']} examples" in record.equivalent_reason
    record = Record("y", "op", ["simam"], "what")
    classify(record, found[1], None)
    assert record.status == "survived"


def test_a_crashing_mutant_counts_as_different(tmp_path):
    crashing = tmp_path / "simam_exit.py"
    crashing.write_text(EQUIVALENT_SIMAM.replace("        mean = ", "        import os; os._exit(3)\n        mean = "))
    (found,) = selftest.check_survivors([(crashing, ["simam"])], examples=5)
    assert found["differs"] and "status 3" in found["message"]


def test_interrupt_reports_what_finished(mutants, tmp_path, monkeypatch):
    def certify_one_then_stop(chosen, paths, options, jobs, mode, report, records):
        records.append(Record(chosen[0].id, chosen[0].operator, chosen[0].blocks, chosen[0].description,
                                       status="killed", killed_by="se::oracle.output", message="found"))
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(run, "prepare", lambda: mutants)
    monkeypatch.setattr(run, "certify_mutants", certify_one_then_stop)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = Namespace(profile="ci", subset=True, json=str(tmp_path / "out.json"), markdown=str(tmp_path / "out.md"),
                     timeout=60.0, quiet=True, jobs=None, seed=0, all_clauses=False)
    assert selftest.main_selftest(args) == 130
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["complete"] is False and summary["mutants"] == 1 and summary["killed"] == 1
    assert "Interrupted" in (tmp_path / "out.md").read_text()
    assert (tmp_path / "cache" / "attncert" / "selftest" / "mutants").is_dir()  # the user's cache, not the current folder
    assert not (tmp_path / ".attncert").exists() and not (tmp_path / ".hypothesis").exists()


def test_unwritable_report_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("")
    done = run_cli("selftest", "--subset", "--json", tmp_path / "file" / "out.json", cwd=tmp_path)
    assert done.returncode == 2 and "cannot write" in done.stderr


def test_without_libcst_selftest_is_a_usage_error_naming_the_extra(tmp_path):
    """`attncert selftest` where libcst is not installed: exit 2 and how to install it, before any work."""
    done = run_cli("selftest", "--subset", "--json", tmp_path / "out.json", cwd=tmp_path, missing=("libcst",))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "libcst" in done.stderr and 'pip install "attncert[selftest]"' in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.json").exists()
