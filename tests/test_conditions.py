"""Where and how clauses run (issue 12): --device, the precision settings the harness sets,
records and restores, and the reduced-precision profiles, on this machine whether or not it has CUDA."""

import json

import pytest
import torch
from torch import nn

from conformance import certify
from conformance.numeric import PRECISIONS
from conformance.subject import _precision_settings, _set_precision_settings, wanted_precision

HAS_CUDA = torch.cuda.is_available()


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


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_usage_error(attncert_cli):
    done = attncert_cli("certify", "reference", "--device", "cuda", "--block", "se")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--device cuda: CUDA is not available on this machine" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_device_beyond_the_gpus_is_a_usage_error(attncert_cli):
    done = attncert_cli("certify", "reference", "--device", "cuda:99", "--block", "se")
    assert done.returncode == 2 and "there are only" in done.stderr


def test_a_device_that_is_not_one_is_a_usage_error(attncert_cli):
    done = attncert_cli("certify", "reference", "--device", "gpu")
    assert done.returncode == 2 and "--device must be cpu, cuda or cuda:N" in done.stderr


@pytest.mark.parametrize("autocast, blocks", [("bf16", ["se", "eca"]), ("fp16", ["spatial_attention"])])
def test_autocast_certifies_on_the_cpu(attncert_cli, tmp_path, autocast, blocks):
    """The reference passes under torch.autocast with reduced-precision inputs, and the certificate names the profile."""
    args = ["certify", "reference", "--autocast", autocast, "--json", tmp_path / "cert.json", "--quiet"]
    done = attncert_cli(*args, *[a for b in blocks for a in ("--block", b)])
    assert done.returncode == 0, done.stdout + done.stderr
    certificate = json.loads((tmp_path / "cert.json").read_text())
    assert certificate["environment"]["precision"] == f"autocast-{autocast}"
    assert {b: certificate["blocks"][b]["verdict"] for b in blocks} == dict.fromkeys(blocks, "pass")


def test_reduced_precision_inputs_only_under_autocast():
    from conformance.clauses import CLAUSES
    from conformance.engine import drawn_dtypes
    from conformance.numeric import PRECISIONS
    from conformance.spec import load_spec
    from conformance.subject import Adapter, Conditions, Subject

    spec = load_spec()
    for precision, expected in (("strict", {"float64", "float32"}), ("tf32", {"float64", "float32"}),
                                ("autocast-bf16", {"float64", "float32", "bfloat16"}),
                                ("autocast-fp16", {"float64", "float32", "float16"})):
        subject = Subject(spec, spec.block("se"), Adapter("x", {}), conditions=Conditions("cpu", PRECISIONS[precision]))
        assert set(drawn_dtypes(subject, CLAUSES["oracle.output"])) == expected
        assert drawn_dtypes(subject, CLAUSES["oracle.input_grad"]) == ("float64",)
