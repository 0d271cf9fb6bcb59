"""The engine's search (``conformance.engine``): what it draws, replays and keys, whatever the target's
spelling and the seed.

The cases depend only on the seed, the block, the setting and the clause: the same counterexamples
for a relative path, an absolute one and one through a symlink. Failing examples are saved under
the target, the task and the conditions (device, precision) and replayed first, by the workers and
the in-process API alike: one Subject builder and one database key. Magnitudes are drawn so gates
saturate at every seed; thorough cases keep the oracle's parameters in reach; every dtype meets an
ordinary case. Clauses run under the precision the harness sets (and the caller's settings come
back); reduced-precision inputs are drawn only under autocast.
"""

import importlib.util
from pathlib import Path

import pytest
import torch
from hypothesis.database import DirectoryBasedExampleDatabase
from torch import nn

from conftest import CORPUS, run_cli
from conformance import certify, engine
from conformance.certification import Certification
from conformance.engine import database_key, run_search, subject_for
from conformance.options import PRECISIONS, RunOptions
from conformance.planning import target_message
from conformance.pool import Pool
from conformance.results import Task
from conformance.spec import load_spec
from conformance.locations import IMPL_DIR
from conformance.subject import Adapter, Conditions, Subject, _precision_settings, _set_precision_settings, wanted_precision
from conformance.targets import TargetRef, load_adapter, resolve

SPEC = load_spec()
REFERENCE = IMPL_DIR / "reference.py"

# An SE that is wrong only for some channel counts: a search finds it after several examples.
RARE = """
import torch
from torch import nn

class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.c = c
        self.fc1 = nn.Linear(c, c // r, bias=False)
        self.fc2 = nn.Linear(c // r, c, bias=False)

    def forward(self, x):
        gate = self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()
        if self.c % 7 == 3:
            gate = gate * 0.5
        return x * gate[:, :, None, None]

def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
"""


def plain_subject(path, block: str):
    """The Subject of ``block`` in the adapter file ``path`` under the plain spec, as every run builds it."""
    adapter = load_adapter(TargetRef(path.stem, str(path)), SPEC)
    return subject_for(SPEC, adapter, Task(block, "oracle.output"), RunOptions())


def test_the_same_cases_whatever_the_target_is_called(tmp_path, monkeypatch, seed):
    """A relative path, an absolute one and one through a symlinked folder: same verdicts, same counterexamples."""
    real = tmp_path / "project"
    real.mkdir()
    (real / "rare.py").write_text(RARE)
    (tmp_path / "linked").symlink_to(real, target_is_directory=True)
    monkeypatch.chdir(real)
    options = RunOptions(seed=seed, database=None, blocks=("se",))
    clauses = [Task("se", clause) for clause in ("oracle.output", "invariant.batch_independent", "layout.equivalent")]
    found = {}
    with Pool(options, jobs=1) as pool:
        for spelling in ("rare.py", str(real / "rare.py"), str(tmp_path / "linked" / "rare.py")):
            certification = Certification(resolve(spelling), SPEC, options, pool)
            certification.run(only=clauses)
            found[spelling] = {task.clause: (result.status, result.counterexample)
                               for task, result in certification.results.items()}
    first, *others = found.values()
    assert any(status == "fail" for status, _ in first.values())
    assert all(other == first for other in others), found


def test_failing_examples_are_saved_and_replayed_first(tmp_path):
    """Hypothesis' database: the second run, even under another seed, starts from the saved failure."""
    (tmp_path / "rare.py").write_text(RARE)
    subject = plain_subject(tmp_path / "rare.py", "se")
    database = tmp_path / "examples"
    runs = [run_search(subject, Task("se", "oracle.output"), RunOptions(seed=s, database=str(database)), "rare|se|oracle.output")
            for s in (0, 0, 7)]
    assert all(run.status == "fail" for run in runs)
    assert any(database.rglob("*")), "nothing was saved"
    first, again, other_seed = runs
    explicit = 4  # the minimal and an ordinary case per dtype (float64, float32), before the saved failure
    assert again.examples <= explicit + 2 < first.examples, (again.examples, first.examples)
    assert other_seed.examples <= explicit + 2
    assert again.counterexample == first.counterexample == other_seed.counterexample


def test_a_clamped_gate_is_rejected_at_every_seed(seed):
    """The gate is right except near saturation: only drawn magnitudes reveal it, at any seed."""
    subject = plain_subject(CORPUS / "mutants" / "ca_clamped_gate.py", "channel_attention")
    for run_seed in range(seed * 10, seed * 10 + 5):
        outcome = run_search(subject, Task("channel_attention", "oracle.output"), RunOptions(seed=run_seed, database=None), "clamped")
        assert outcome.status == "fail", f"seed {run_seed}: the clamped gate passed"


@pytest.mark.parametrize("block", ["se", "channel_attention", "cbam", "coord_attention"])
def test_thorough_cases_keep_the_parameters_within_the_oracles_reach(block):
    """Regression (found by `attncert selftest --profile thorough`): C = 16384 with ratio 1 gave the
    float64 oracle 2 GiB weight matrices, and the memory guard then failed a correct CBAM. Every case
    keeps the spec's parameter count within the profile's ``max_params``; large C is still drawn."""
    from hypothesis import HealthCheck, given, settings

    from conformance.clauses import CLAUSES
    from conformance.options import PROFILES
    from conformance.strategies import cases

    profile, spec_block = PROFILES["thorough"], SPEC.block(block)
    channels = []

    @settings(max_examples=200, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(cases(spec_block, profile, CLAUSES["oracle.output"], ("float32",)))
    def check(case):
        assert spec_block.expected_param_count(spec_block.env(case.kwargs)) <= profile.max_params
        channels.append(case.input_shape[1])

    check()
    assert max(channels) >= 4096


@pytest.mark.parametrize("at_seed", [7, None])
def test_every_dtype_meets_an_ordinary_case_whatever_hypothesis_draws(at_seed, seed):
    """Regression (a fresh clone under --seed 7): all of oracle.output's drawn cases were float64, and
    an SE computing its MLP in bfloat16 for float32 inputs passed; its float32 minimal case has a
    single hidden unit, off, so the gate is exactly 1/2 in any precision. Each dtype now also meets
    a case of ordinary size."""
    subject = plain_subject(CORPUS / "mutants" / "se_bf16_float32.py", "se")
    outcome = run_search(subject, Task("se", "oracle.output"), RunOptions(seed=seed if at_seed is None else at_seed, database=None),
                         "test|se_bf16_float32")
    assert outcome.status == "fail" and "float32" in outcome.message, outcome.message


# ---------------------------------------------------------------- the precision clauses run under
class RecordingSE(nn.Module):
    """A correct SE that notes the precision settings in force while it runs."""

    seen: list = []

    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        RecordingSE.seen.append(_precision_settings())
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))[:, :, None, None]


def recording_se(*, in_channel, ratio):
    return RecordingSE(in_channel, ratio)


@pytest.fixture
def caller_settings():
    """The caller's own (non-default, even legacy-and-new mixed) settings, put back after the test."""
    saved = _precision_settings()
    torch.set_float32_matmul_precision("medium")
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    yield _precision_settings()
    _set_precision_settings(saved)


@pytest.mark.parametrize("precision", ["strict", "tf32"])
def test_precision_is_set_for_every_clause_recorded_and_restored(caller_settings, precision):
    RecordingSE.seen = []
    certificate = certify({"se": recording_se}, blocks=["se"], precision=precision)
    assert certificate.blocks["se"].verdict == "pass"
    wanted = wanted_precision(PRECISIONS[precision])
    assert RecordingSE.seen and all(seen == wanted for seen in RecordingSE.seen), "every forward ran under the harness's settings"
    assert set(wanted.values()) == ({"ieee"} if precision == "strict" else {"ieee", "tf32"}) or "cudnn TF32" in wanted
    assert _precision_settings() == caller_settings, "the caller's settings are back"
    env = certificate.environment
    assert env["precision"] == precision and env["tf32"] is (precision == "tf32") and env["device"] == "cpu"


def test_reduced_precision_inputs_only_under_autocast():
    from conformance.clauses import CLAUSES
    from conformance.engine import drawn_dtypes
    from conformance.subject import Subject

    for precision, expected in (("strict", {"float64", "float32"}), ("tf32", {"float64", "float32"}),
                                ("autocast-bf16", {"float64", "float32", "bfloat16"}),
                                ("autocast-fp16", {"float64", "float32", "float16"})):
        subject = Subject(SPEC, SPEC.block("se"), Adapter("x", {}), conditions=Conditions("cpu", PRECISIONS[precision]))
        assert set(drawn_dtypes(subject, CLAUSES["oracle.output"])) == expected
        assert drawn_dtypes(subject, CLAUSES["oracle.input_grad"]) == ("float64",)


# ---------------------------------------------------------------- one Subject builder, one database key
def se_factory(*, in_channel, ratio):
    return nn.Identity()


DECLARING = load_adapter(TargetRef("declaring"), SPEC, source={
    "se": se_factory, "VARIANTS": {"se": {"bias": True}}, "DOMAIN": {"se": "ratio in (2, 4)"},
})


@pytest.mark.parametrize("device, precision", [("cpu", "strict"), ("cpu", "tf32"), ("cuda:1", "autocast-bf16")])
def test_a_tasks_subject_has_its_setting_and_the_runs_conditions(device, precision):
    """``subject_for`` is the one way to build a Subject: the block, the adapter's declaration only for a
    declared task, and the run's device and precision (a device is only named here, never used)."""
    options = RunOptions(device=device, precision=precision)
    plain = subject_for(SPEC, DECLARING, Task("se", "oracle.output"), options)
    declared = subject_for(SPEC, DECLARING, Task("se", "oracle.output", declared=True), options)
    assert plain.block is SPEC.block("se") and declared.block is SPEC.block("se")
    assert plain.adapter is DECLARING and declared.adapter is DECLARING
    assert dict(plain.variant) == {} and plain.domain is None
    assert dict(declared.variant) == {"bias": True} and str(declared.domain) == "ratio in (2, 4)"
    assert plain.conditions == declared.conditions
    assert plain.conditions.device == device and plain.conditions.precision == PRECISIONS[precision]


def test_the_database_key_names_the_target_the_task_and_the_conditions():
    """Failing examples are kept apart per target identity, block, setting, clause, device and precision;
    the seed, the profile and the timeout do not split them (a failure is replayed under any seed)."""
    task, options = Task("se", "oracle.output"), RunOptions()
    variations = [
        ("/a/mine.py", task, options),
        ("/b/mine.py", task, options),
        ("/a/mine.py", Task("eca", "oracle.output"), options),
        ("/a/mine.py", Task("se", "oracle.output", declared=True), options),
        ("/a/mine.py", Task("se", "oracle.input_grad"), options),
        ("/a/mine.py", task, RunOptions(device="cuda")),
        ("/a/mine.py", task, RunOptions(device="cuda:1")),
        ("/a/mine.py", task, RunOptions(precision="tf32")),
        ("/a/mine.py", task, RunOptions(precision="autocast-bf16")),
        ("/a/mine.py", task, RunOptions(precision="autocast-fp16")),
    ]
    keys = [database_key(*variation) for variation in variations]
    assert len(set(keys)) == len(variations), keys
    for same in (RunOptions(seed=7), RunOptions(profile="thorough"), RunOptions(timeout=5.0), RunOptions(database=None)):
        assert database_key("/a/mine.py", task, same) == keys[0]


def test_the_api_and_the_workers_keep_failures_under_the_engines_keys(tmp_path, monkeypatch):
    """certify() of a mapping of factories (run in this process) and of the same code as a file (run in
    worker processes) both build their Subjects with ``subject_for`` and keep failing examples in the
    run's example database under ``database_key`` of the run's device and precision.

    RARE fails only where the search draws its channel counts (failures of the explicit minimal and
    ordinary cases are not saved), at the fixed seed 0 as in the replay test above."""
    path = tmp_path / "rare.py"
    path.write_text(RARE)
    spec = importlib.util.spec_from_file_location("attncert_test_rare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the default database is in the user's cache
    keyed, built = [], []
    real_key, real_subject = engine.database_key, engine.subject_for
    monkeypatch.setattr(engine, "database_key", lambda *args: keyed.append(args) or real_key(*args))
    monkeypatch.setattr(engine, "subject_for", lambda *args: built.append(real_subject(*args)) or built[-1])

    in_process = certify({"se": module.se}, blocks=["se"], precision="tf32", seed=0).to_json()
    assert keyed and built, "the in-process path did not go through the engine's builders"
    in_workers = certify(str(path), blocks=["se"], precision="tf32", seed=0).to_json()

    task, options = Task("se", "oracle.output"), RunOptions(precision="tf32", seed=0)
    for certificate in (in_process, in_workers):
        failed = {c["id"] for c in certificate["blocks"]["se"]["clauses"] if c["status"] == "fail"}
        assert task.clause in failed, certificate["blocks"]["se"]
    assert all((s.conditions.device, s.conditions.precision) == ("cpu", PRECISIONS["tf32"]) for s in built)
    assert {(o.device, o.precision) for _, _, o in keyed} == {("cpu", "tf32")}
    database = DirectoryBasedExampleDatabase(tmp_path / "cache" / "attncert" / "examples")
    assert not (tmp_path / ".attncert").exists() and not (tmp_path / ".hypothesis").exists(), "nothing in the current folder"
    (mapping_identity,) = {identity for identity, t, _ in keyed if t == task}
    file_identity = target_message(resolve(str(path)))["identity"]
    assert mapping_identity != file_identity
    for identity in (mapping_identity, file_identity):
        assert list(database.fetch(database_key(identity, task, options).encode())), f"nothing kept for {identity}"


# ---------------------------------------------------------------- domains the search draws into
@pytest.mark.parametrize("block, multiple, edges", [("selective_kernel", lambda k: k["G"], {1, 2, 3}),
                                                    ("shuffle_attention", lambda k: 2 * k["groups"], {1, 2, 3}),
                                                    ("sge", lambda k: k["groups"], {1, 2})])  # C <= 64 without in_channel
def test_channel_counts_are_drawn_as_multiples_of_what_the_domain_asks(block, multiple, edges):
    """A grouped block's domain (in_channel % G == 0, SGE's input domain C % groups == 0) is met by
    drawing multiples of the group count, not by rejecting most draws: every case is valid, and
    the multiples' edges (1, 2, 3, ... times) are all drawn."""
    from hypothesis import HealthCheck, given, settings

    from conformance.clauses import CLAUSES
    from conformance.options import PROFILES
    from conformance.strategies import cases, channel_step

    spec_block, seen = SPEC.block(block), set()

    @settings(max_examples=100, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(cases(spec_block, PROFILES["ci"], CLAUSES["oracle.output"], ("float32",)))
    def check(case):
        channels = case.input_shape[1]
        assert channels % multiple(case.kwargs) == 0 and channel_step(spec_block, case.kwargs) == multiple(case.kwargs)
        assert spec_block.domain_violation(case.kwargs) is None
        assert spec_block.input_violation(spec_block.env(case.kwargs), case.input_shape) is None
        seen.add(channels // multiple(case.kwargs))

    check()
    assert edges <= seen


def test_the_first_cases_meet_the_input_domain_and_the_defaults_need_not_fit_64_channels():
    """Shuffle Attention's default 64 groups need 128 channels; SGE (no in_channel) needs C a
    multiple of its groups and two positions; BAM's batch statistics need two samples: the minimal
    and the ordinary case find them."""
    from conformance.clauses import CLAUSES
    from conformance.options import PROFILES
    from conformance.strategies import minimal_case, typical_case

    clause = CLAUSES["oracle.output"]
    sa = minimal_case(SPEC.block("shuffle_attention"), PROFILES["ci"], clause, ("float64",))
    assert sa.kwargs == {"in_channel": 128, "groups": 64} and sa.input_shape == (1, 128, 1, 1)
    sge = minimal_case(SPEC.block("sge"), PROFILES["ci"], clause, ("float64",))
    assert sge.kwargs == {"groups": 64} and sge.input_shape == (1, 64, 1, 2)
    bam = minimal_case(SPEC.block("bam"), PROFILES["ci"], clause, ("float64",))
    assert bam.input_shape == (2, 16, 1, 1)
    assert typical_case(SPEC.block("shuffle_attention"), clause, "float32").input_shape == (2, 128, 5, 7)


def test_a_single_sample_outside_the_input_domain_is_not_judged_alone():
    """GroupNorm raises on one value per channel in both modes: a batch of two 1 x 1 samples is valid
    for Shuffle Attention with one group, each sample alone is not, so batch independence draws
    another case; where only train mode needs two samples (BAM), eval mode judges single samples."""
    from conformance.cases import Case
    from conformance.clauses import CLAUSES
    from conformance.subject import Unjudgeable

    reference = load_adapter(TargetRef("reference", str(REFERENCE)), SPEC)
    sa = Subject(SPEC, SPEC.block("shuffle_attention"), reference)
    case = Case({"in_channel": 2, "groups": 1}, (2, 2, 1, 1))
    with pytest.raises(Unjudgeable, match="single sample"):
        CLAUSES["invariant.batch_independent"].check(sa, case)
    bam = Subject(SPEC, SPEC.block("bam"), reference)
    bam_case = Case({"in_channel": 16, "reduction_ratio": 16, "num_layers": 1, "dilation_conv_num": 2, "dilation_val": 4},
                    (2, 16, 3, 3))
    assert SPEC.block("bam").input_violation(bam.env(bam_case), (1, 16, 3, 3), training=False) is None
    assert SPEC.block("bam").input_violation(bam.env(bam_case), (1, 16, 3, 3)) is not None
    CLAUSES["invariant.batch_independent"].check(bam, bam_case)


def test_shuffle_attention_survives_torchs_groupnorm_crash(tmp_path):
    """Regression (found by `attncert selftest`: eight mutants that only crashed): torch 2.13's
    GroupNorm backward segfaults on a channel slice of a channels_last tensor when only its weight
    and bias need gradients; the reference makes that slice contiguous, so input.unmutated passes
    (replayed in a child process: a crash must not take the test run with it)."""
    case = ('{"in_channel": 30, "groups": 1, "input_shape": [2, 30, 3, 4], "dtype": "float32", "memory_format": '
            '"channels_last", "values": "normal", "input_scale": 1024.0, "weight_scale": 1.0, "seed": 1148086}')
    done = run_cli("reproduce", "reference", "shuffle_attention::input.unmutated", "--case", case, cwd=tmp_path)
    assert done.returncode == 0 and "PASS" in done.stdout, done.stdout + done.stderr


def _write_shuffle_attention_in_the_authors_form(path: Path) -> None:
    """The corpus's correct Shuffle Attention with its GroupNorm on the channel slice itself, as the
    authors write it (the corpus file makes that slice contiguous)."""
    authors = (CORPUS / "correct" / "sa_grouped_layout.py").read_text()
    assert "self.gn(x1.contiguous())" in authors
    path.write_text(authors.replace("self.gn(x1.contiguous())", "self.gn(x1)"))


def test_a_correct_shuffle_attention_in_both_layouts_agrees_within_the_bound(tmp_path):
    """Regression (--seed 3): the authors' form of Shuffle Attention, GroupNorm on a channel slice,
    gave channels_last and contiguous outputs 1.03 times the oracle's bound apart: torch's GroupNorm
    takes the variance as E[x^2] - E[x]^2 there, whose rounding the bound now covers."""
    _write_shuffle_attention_in_the_authors_form(tmp_path / "sa_authors.py")
    case = ('{"in_channel": 502, "groups": 1, "input_shape": [3, 502, 1, 2], "dtype": "float64", "memory_format": '
            '"channels_last", "values": "normal", "input_scale": 1.0, "weight_scale": 1.0, "seed": 5}')
    done = run_cli("reproduce", "sa_authors.py", "shuffle_attention::layout.equivalent", "--case", case, cwd=tmp_path)
    assert done.returncode == 0 and "PASS" in done.stdout, done.stdout + done.stderr


def test_a_correct_shuffle_attention_does_not_crash_torch_when_its_input_is_checked(tmp_path):
    """Regression: with a frozen float32 channels_last input, torch 2.13's GroupNorm backward
    segfaulted in the authors' form of Shuffle Attention (GroupNorm on a channel slice), and the
    crash was the implementation's verdict. input.unmutated now gives a float32 input gradients, as
    a feature map inside a network has (run in a child process: a crash must not end the test run)."""
    _write_shuffle_attention_in_the_authors_form(tmp_path / "sa_authors.py")
    case = ('{"in_channel": 30, "groups": 1, "input_shape": [2, 30, 3, 4], "dtype": "float32", "memory_format": '
            '"channels_last", "values": "normal", "input_scale": 1024.0, "weight_scale": 1.0, "seed": 1148086}')
    done = run_cli("reproduce", "sa_authors.py", "shuffle_attention::input.unmutated", "--case", case, cwd=tmp_path)
    assert done.returncode == 0 and "PASS" in done.stdout, done.stdout + done.stderr
