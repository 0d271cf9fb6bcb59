"""What an adapter declares beside its factories: ``DOMAIN``, the part of the spec's domain it supports.

A declaration never turns the plain verdict into a pass: the certificate gives the plain verdict
and the verdict within the domain, states the domain, and says when it leaves out the documents'
defaults. A domain's listed values are drawn from, not filtered for. A domain that is not a
formula of the spec's language is a usage error. (Declared VARIANTS: the outside project in
test_api.py, replay in test_cli_explain.py.)
"""

from conftest import run_cli
from conformance import certify
from conformance.spec import load_spec

SPEC = load_spec()

KERNEL_ASSERT = """
import torch
from torch import nn

DOMAIN = {"spatial_attention": "%s"}

class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        assert kernel_size in (3, 7), "kernel size must be 3 or 7"
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        maps = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(maps))

def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
"""


def test_a_declared_domain_certifies_within_it_and_says_so(tmp_path, monkeypatch):
    """`assert kernel_size in (3, 7)`: the plain verdict fails (the spec allows any odd size), the
    declared domain passes, and the certificate states the domain."""
    monkeypatch.chdir(tmp_path)  # the run's example database (.attncert/examples) goes there
    (tmp_path / "k37.py").write_text(KERNEL_ASSERT % "kernel_size in (3, 7)")
    block = certify(str(tmp_path / "k37.py")).to_json()["blocks"]["spatial_attention"]
    assert block["verdict"] == "fail"
    assert block["variant"]["declared"] == {} and block["variant"]["domain"] == "kernel_size in (3, 7)"
    assert block["variant"]["verdict"] == "pass" and "note" not in block["variant"]
    construct = next(c for c in block["clauses"] if c["id"] == "construct")
    assert construct["status"] == "fail" and construct["counterexample"]["kernel_size"] not in (3, 7)


def test_a_domain_without_the_documents_defaults_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run's example database (.attncert/examples) goes there
    (tmp_path / "k3.py").write_text(KERNEL_ASSERT % "kernel_size in (3,)")
    block = certify(str(tmp_path / "k3.py"), blocks=["spatial_attention"]).to_json()["blocks"]["spatial_attention"]
    assert block["variant"]["verdict"] == "pass"
    assert "excludes the documents' defaults (kernel_size=7)" in block["variant"]["note"]


def test_a_declared_domain_is_drawn_from_not_filtered():
    """`kernel_size in (3,)` draws 3 (Hypothesis' too-much-filtering check stays on), and the case tried
    first takes the pinned value nearest the default, as a narrow domain's run must be as quick as any."""
    from hypothesis import HealthCheck, given, settings

    from conformance.clauses import CLAUSES
    from conformance.expr import Expr
    from conformance.options import PROFILES
    from conformance.strategies import cases, minimal_case

    assert Expr.parse("kernel_size in (3, 7) and kernel_size in (7, 9)").pinned == {"kernel_size": (7,)}
    assert Expr.parse("kernel_size in (3, 7) or kernel_size == 1").pinned == {}
    # `name == value` pins too: fightingcv's BAM declares num_layers == 3 and dilation_conv_num == 3,
    # and a deployed runtime's artifacts are built at the defaults moved into the domain
    assert Expr.parse("num_layers == 3 and dilation_conv_num == 3").pinned == {"num_layers": (3,), "dilation_conv_num": (3,)}
    assert Expr.parse("kernel_size == 3 and kernel_size in (5, 7)").pinned == {"kernel_size": ()}
    from conformance.strategies import deployment_settings
    bam = deployment_settings(SPEC.block("bam"), {"combine": "sum"}, Expr.parse("num_layers == 3 and dilation_conv_num == 3"))
    assert bam and all(kwargs["num_layers"] == 3 and kwargs["dilation_conv_num"] == 3 for kwargs, _ in bam)
    block, clause, domain = SPEC.block("spatial_attention"), CLAUSES["oracle.output"], Expr.parse("kernel_size in (1, 3)")
    assert minimal_case(block, PROFILES["ci"], clause, ("float32",), None, domain).kwargs["kernel_size"] == 3
    drawn = set()

    @settings(max_examples=40, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(block, PROFILES["ci"], clause, ("float32",), None, domain))
    def draw(case):
        drawn.add(case.kwargs["kernel_size"])

    draw()
    assert drawn == {1, 3}


def test_a_bad_domain_is_a_clear_error(tmp_path):
    (tmp_path / "bad.py").write_text(KERNEL_ASSERT % "kernel_size in sizes")
    done = run_cli("certify", tmp_path / "bad.py", cwd=tmp_path)
    assert done.returncode == 2 and "DOMAIN['spatial_attention']" in done.stderr and "literal tuple" in done.stderr
