"""The runtime corpus's expectations checked with plain torch.compile / torch.export / torch.onnx and
onnxruntime, outside the harness: each artifact is built as a user builds it, at [2, 16, 5, 3]
(batch, height and width dynamic, eval mode), and compared with eager mode at other sizes. What the
harness reports (tests/test_runtime_corpus.py) must be what plain code shows.
"""

import importlib.util

import pytest
import torch
from torch.export import Dim

from conftest import CORPUS, corpus_expectations

TRACE = (2, 16, 5, 3)
OTHERS = ((1, 16, 6, 4), (3, 16, 1, 7), (2, 16, 8, 8))
DIMS = ({0: Dim("B"), 2: Dim("H"), 3: Dim("W")},)
COMPILE_CHECKED = {"coord_adaptive_pools", "se_size_branch"}  # inductor compiles a graph per new kind of input: seconds


def module_of(path, block):
    spec = importlib.util.spec_from_file_location(f"runtime_corpus_{path.stem}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    factory = {"se": loaded.__dict__.get("se"), "channel_attention": loaded.__dict__.get("channel_attention"),
               "coord_attention": loaded.__dict__.get("coord_attention")}[block]
    torch.manual_seed(0)
    return factory(in_channel=16).eval()


def deploy(module, runtime):
    """The artifact as a user builds it; a callable on tensors."""
    x = torch.randn(TRACE)
    if runtime == "compile":
        return torch.compile(module, dynamic=True)
    if runtime == "export":
        return torch.export.export(module, (x,), dynamic_shapes=DIMS).module()
    import onnxruntime

    program = torch.onnx.export(module, (x,), dynamo=True, dynamic_shapes=DIMS, verbose=False)
    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda t: torch.from_numpy(session.run(None, {session.get_inputs()[0].name: t.numpy()})[0])


def agrees(module, runtime) -> bool:
    """Whether the artifact builds, runs and gives eager's outputs at the trace size and at others."""
    try:
        artifact = deploy(module, runtime)
        for shape in (TRACE, *OTHERS):
            x = torch.randn(shape)
            with torch.no_grad():
                if not torch.allclose(artifact(x), module(x), rtol=1e-4, atol=1e-5):
                    return False
    except Exception:  # noqa: BLE001  (an artifact that cannot be built or run is what some files show)
        return False
    return True


CASES = [pytest.param(p.values[0], p.values[1], runtime, verdict, id=f"{p.id}-{runtime}")
         for p in corpus_expectations("runtime") for runtime, verdict in p.values[2].items()
         if runtime != "eager" and (runtime != "compile" or p.values[0].stem in COMPILE_CHECKED)]


@pytest.mark.parametrize("path, block, runtime, verdict", CASES)
def test_plain_deployment_agrees_with_the_expectation(path, block, runtime, verdict):
    module = module_of(path, block)
    assert agrees(module, runtime) is (verdict == "pass"), f"{path.name} under {runtime}: expected {verdict}"


def test_every_file_runs_in_eager_mode_at_every_size_used():
    """The comparison above is with a module that runs at all of these sizes in eager mode."""
    for path in sorted((CORPUS / "runtime").glob("*.py")):
        block = next(p.values[1] for p in corpus_expectations("runtime") if p.values[0] == path)
        module = module_of(path, block)
        for shape in (TRACE, *OTHERS):
            out = module(torch.randn(shape))
            assert out.shape == shape and out.isfinite().all()
