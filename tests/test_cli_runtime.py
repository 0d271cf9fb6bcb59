"""`attncert certify --runtime`: the reference passes every runtime; certificates say the runtime,
the versions that built the artifact and each block's trace inputs; a failure names the runtime and
replays with it; `--runtime all` makes one certificate per runtime; a runtime this machine cannot use
is a usage error; the plugin and the API take the runtime too."""

import json
import shlex

import pytest

from conformance.matrix import render
from conftest import CORPUS, MINIMAL_SE, ROOT, judge_in_process, run_cli, run_pytest


@pytest.fixture(scope="module")
def reference_under(tmp_path_factory):
    """The reference's certificates under export and onnx (every block, the ci profile)."""
    folder = tmp_path_factory.mktemp("runtimes")
    runs = {}
    for runtime in ("export", "onnx"):
        done = run_cli("certify", "reference", "--runtime", runtime, "--json", folder / f"{runtime}.json", "--quiet", cwd=folder)
        runs[runtime] = (done, json.loads((folder / f"{runtime}.json").read_text()))
    return runs


@pytest.mark.parametrize("runtime", ["export", "onnx"])
def test_the_reference_passes_every_block_deployed(reference_under, runtime):
    done, certificate = reference_under[runtime]
    assert done.returncode == 0, done.stdout + done.stderr
    assert {b["verdict"] for b in certificate["blocks"].values()} == {"pass"}
    assert f"runtime {runtime}" in done.stdout


def test_the_reference_compiled_matches_the_oracle_with_gradients(seed):
    """torch.compile: every graph costs seconds, so the suite judges SE's outputs, input gradients and
    layouts (`attncert certify reference --runtime compile` runs everything)."""
    clauses = ("oracle.output", "oracle.input_grad", "layout.equivalent")
    results = dict(judge_in_process(ROOT / "impl" / "reference.py", "se", seed, False, "compile", clauses))
    assert set(results) == set(clauses)
    assert {r.status for r in results.values()} == {"pass"}, {c: r.message for c, r in results.items()}


def test_a_deployed_certificate_says_how_it_was_deployed(reference_under):
    _, certificate = reference_under["onnx"]
    env = certificate["environment"]
    assert env["runtime"] == "onnx" and env["opset"] == 20
    assert all(env[name] for name in ("onnx", "onnxscript", "onnxruntime"))
    se = certificate["blocks"]["se"]
    assert se["runtime"]["name"] == "onnx"
    assert [a["trace_input"] for a in se["runtime"]["artifacts"]] == [[2, 4, 5, 3], [2, 32, 5, 3]]
    assert se["runtime"]["excluded"] and "float32" in se["runtime"]["excluded"][0]["why"]
    skipped = {c["id"]: c["message"] for c in se["clauses"] if c["status"] == "skip"}
    assert "no gradients" in skipped["oracle.input_grad"] and "--runtime onnx" in skipped["oracle.input_grad"]
    assert "`reference (onnx)`" in render([certificate])


def test_a_runtime_failure_names_the_runtime_and_replays_with_it(tmp_path):
    target = CORPUS / "runtime" / "coord_adaptive_pools.py"
    done = run_cli("certify", target, "--runtime", "onnx", "--json", tmp_path / "c.json", "--quiet", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failing = [c for c in json.loads((tmp_path / "c.json").read_text())["blocks"]["coord_attention"]["clauses"]
               if c["status"] == "fail"]
    assert failing and all("traced at [2, 1, 5, 3]" in c["message"] for c in failing), failing
    command = shlex.split(failing[0]["reproduce"])
    assert command[-2:] == ["--runtime", "onnx"]
    replayed = run_cli(*command[1:], cwd=tmp_path)
    assert replayed.returncode == 1 and "FAIL" in replayed.stdout and "traced at" in replayed.stdout


def test_runtime_all_writes_one_certificate_per_runtime(tmp_path):
    """With a spec that declares eager and export only, `all` is those two: one report, two certificates."""
    text = (ROOT / "spec" / "blocks.yaml").read_text(encoding="utf-8")
    start, end = text.index("  compile:\n"), text.index("  export:\n")
    spec = tmp_path / "two.yaml"
    spec.write_text(text[:start] + text[end:text.index("  onnx:\n")] + text[text.index("blocks:\n  se:"):])
    (tmp_path / "mine.py").write_text(MINIMAL_SE)
    done = run_cli("certify", "mine.py", "--spec", spec, "--runtime", "all", "--json", "out/mine.json", "--quiet",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    written = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert written == ["mine-eager.json", "mine-export.json"]
    assert json.loads((tmp_path / "out" / "mine-export.json").read_text())["environment"]["runtime"] == "export"
    assert "conformance summary" in done.stdout and "mine.py (export)" in done.stdout


@pytest.mark.parametrize("args, missing, env, message", [
    (["--runtime", "onnx"], ("onnxruntime",), {}, 'pip install "attncert[deploy]"'),
    (["--runtime", "compile"], (), {"PATH": "", "CXX": ""}, "needs a C++ compiler"),
    (["--runtime", "tflite"], (), {}, "unknown runtime 'tflite'"),
])
def test_a_runtime_this_machine_cannot_use_is_a_usage_error(tmp_path, args, missing, env, message):
    done = run_cli("certify", "reference", "--block", "se", *args, cwd=tmp_path, missing=missing, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_plugin_and_the_api_take_the_runtime(tmp_path):
    (tmp_path / "good.py").write_text(MINIMAL_SE)
    done = run_pytest("--impl", "good.py", "--impl-runtime", "export", "-q", "-k", "oracle.output", cwd=tmp_path,
                      own_rootdir=True)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
    from conformance import certify

    certificate = certify(tmp_path / "good.py", blocks=["se"], runtime="export", timeout=300)
    assert certificate.environment["runtime"] == "export" and certificate.blocks["se"].verdict == "pass"


def test_a_declared_domain_without_a_buildable_setting_is_a_skip_that_says_why(tmp_path):
    """Artifacts are built at the block's defaults moved into the declared domain; where no channel
    count up to the explicit cases' limit lies in it, nothing can be built or judged: every clause
    is a skip naming the runtime, never a failure of the implementation (it was one: Hypothesis'
    "Cannot sample from a length-zero sequence")."""
    path = tmp_path / "wide_only.py"
    path.write_text(MINIMAL_SE + '\nDOMAIN = {"se": "in_channel >= 4096"}\n')
    results = dict(judge_in_process(path, "se", 0, False, "export", ("shape.preserved", "oracle.output"), declared=True))
    assert {r.status for r in results.values()} == {"skip"}, results
    assert all("no artifact can be built under --runtime export" in r.message for r in results.values())


def test_an_exporters_coloured_message_is_reported_as_plain_text():
    """torch.onnx.export colours its errors (fightingcv's BAMBlock printed '\\x1b[96mThis is s...')."""
    from conformance.runtimes import _first_lines

    err = RuntimeError("\x1b[96mFailed to export\x1b[0m the model\n\x1b[1mwith torch.export\x1b[0m")
    assert _first_lines(err) == "RuntimeError: Failed to export the model with torch.export"


def test_compiled_graphs_are_shared_by_a_blocks_clauses_and_dropped_for_another_block_or_target():
    """A graph costs seconds of C++ compilation: the clauses of one block of one target reuse them;
    another block or target starts from no compiled code."""
    from conformance.runtimes import Compile

    runtime = Compile()

    def compile_something():
        runtime.compiled["module"] = object()
        runtime.traced.add("trace")

    runtime.begin_task(("reference", "se"))
    compile_something()
    runtime.begin_task(("reference", "se"))
    assert runtime.compiled and runtime.traced
    for scope in (("reference", "eca"), ("tutorial", "eca")):
        runtime.begin_task(scope)
        assert not runtime.compiled and not runtime.traced
        compile_something()


def test_a_compile_failure_at_a_channels_last_trace_input_says_so(tmp_path):
    """The trace input takes the case's layout: a `view` that only a contiguous tensor allows fails
    there, and the message must not read as if [2, C, 5, 3] itself were the problem."""
    path = tmp_path / "se_view.py"
    path.write_text(MINIMAL_SE.replace("x.mean((2, 3))", "x.view(x.shape[0], -1).unflatten(1, (x.shape[1], -1)).mean(2)"))
    case = {"in_channel": 4, "ratio": 4, "input_shape": [3, 4, 2, 2], "dtype": "float32", "memory_format": "channels_last",
            "values": "normal", "input_scale": 1.0, "weight_scale": 1.0, "seed": 0}
    done = run_cli("reproduce", path, "se::shape.preserved", "--case", json.dumps(case), "--runtime", "compile", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "torch.compile failed at the trace input [2, 4, 5, 3] laid out channels_last" in " ".join(done.stdout.split())


def test_deploying_in_process_leaves_torchs_tf32_flags_as_they_were():
    """The tracers need cuDNN's legacy TF32 flag set; left behind, it disagreed with the restored
    per-operator settings, and a user's own torch.export later in the same process raised."""
    import torch

    results = dict(judge_in_process(ROOT / "impl" / "reference.py", "se", 0, False, "export", ("shape.preserved",)))
    assert results["shape.preserved"].status == "pass", results
    assert torch.backends.cudnn.allow_tf32 is True  # torch's default: reading it raised
    torch.export.export(torch.nn.Conv2d(2, 2, 1), (torch.randn(1, 2, 3, 3),))
