"""impl/fast.py against the float64 oracle: outputs, input and parameter gradients, at random sizes.

fast.py replaces autograd by hand-written backward passes and works in chunks of samples, so these
tests aim at what that could break: every block, float32 and float64, contiguous / channels_last /
non-contiguous inputs, train and eval mode, one sample per chunk or the whole batch per chunk,
inputs full of ties (max pooling must split its gradient like ``torch.amax``), gradients of the
input alone or of the parameters alone, and ``gradcheck`` / ``gradgradcheck`` on small float64 inputs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from conformance import oracle
from conformance.spec import load_spec

FAST_PATH = ROOT / "impl" / "fast.py"
BLOCKS = ("se", "eca", "channel_attention", "spatial_attention", "cbam")


def _load_fast():
    spec = importlib.util.spec_from_file_location("attncert_test_fast_impl", FAST_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fast = _load_fast()
SPEC = load_spec()


# ---------------------------------------------------------------- helpers
def build(block: str, kwargs: dict, dtype: torch.dtype, seed: int = 0):
    """The fast module and the oracle's canonical weights, transferred in registration order."""
    spec_block = SPEC.block(block)
    env = spec_block.env(kwargs)
    weights = oracle.random_weights(spec_block, env, torch.Generator().manual_seed(seed))
    module = getattr(fast, block)(**kwargs).to(dtype)
    params = list(module.parameters())
    assert [p.numel() for p in params] == [w.numel() for w in weights.values()], "canonical parameters"
    with torch.no_grad():
        for param, weight in zip(params, weights.values()):
            param.copy_(weight.reshape(param.shape))
    names = [name for name, _ in module.named_parameters()]
    assert names == list(weights), f"registration order {names} is not the canonical {list(weights)}"
    return module, spec_block, env, weights


def make_input(shape, dtype, layout: str, ties: bool, generator: torch.Generator) -> torch.Tensor:
    """An input of ``shape`` in the requested layout; ``ties``: small integers, so maxima repeat."""
    if layout == "non_contiguous":  # every other column of a wider tensor
        b, c, h, w = shape
        base = _values((b, c, h, 2 * w), ties, generator)
        x = base[..., ::2]
    else:
        x = _values(shape, ties, generator)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
    return x.to(dtype)


def _values(shape, ties: bool, generator: torch.Generator) -> torch.Tensor:
    if ties:
        return torch.randint(-2, 3, shape, generator=generator).to(torch.float64)
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def assert_close(found: torch.Tensor, expected: torch.Tensor, n: float, dtype: torch.dtype, what: str):
    """The harness's own error budget (conformance.subject.tolerance): tiny gradients (~1e-6 in
    float32) are judged against an absolute floor, not only relative to their own size."""
    from conformance.subject import tolerance

    found, expected = found.detach().double(), expected.detach().double()
    assert found.shape == expected.shape, f"{what}: shape {list(found.shape)} != {list(expected.shape)}"
    if not expected.numel():
        return
    tol = tolerance(n, dtype, expected.abs().max().item())
    worst = (found - expected).abs().max().item()
    assert worst <= tol, f"{what}: max |difference| {worst:.3g} > {tol:.3g} (n={n:g}, {dtype})"


def oracle_run(spec_block, env, weights, x: torch.Tensor, grad_out: torch.Tensor):
    """The oracle's output and its gradients w.r.t. the input and each canonical weight, in float64."""
    x64 = x.detach().double().requires_grad_()
    leaves = {k: v.clone().requires_grad_() for k, v in weights.items()}
    out = oracle.forward(SPEC, spec_block, env, leaves, x64)
    grads = torch.autograd.grad(out, [x64, *leaves.values()], grad_out.double())
    return out.detach(), grads[0], dict(zip(leaves, grads[1:]))


@contextlib.contextmanager
def chunking(chunk_bytes: int | None):
    """fast.py's chunk size for the duration of a block (None: its default)."""
    with mock.patch.dict(os.environ):
        os.environ.pop("ATTNCERT_FAST_CHUNK_BYTES", None)
        if chunk_bytes is not None:
            os.environ["ATTNCERT_FAST_CHUNK_BYTES"] = str(chunk_bytes)
        yield


# ---------------------------------------------------------------- strategies
@st.composite
def settings_for(draw, block: str) -> dict:
    channels = draw(st.integers(1, 48), label="in_channel")
    kwargs = {}
    if block in ("se", "channel_attention", "cbam"):
        kwargs = {"in_channel": channels, "ratio": draw(st.integers(1, channels), label="ratio")}
    if block == "eca":
        kwargs = {"in_channel": channels, "b": draw(st.integers(-4, 16), label="b"),
                  "gamma": draw(st.integers(1, 16), label="gamma")}
    if block in ("spatial_attention", "cbam"):
        kwargs["kernel_size"] = draw(st.sampled_from([1, 3, 5, 7]), label="kernel_size")
    return kwargs


@st.composite
def cases(draw):
    block = draw(st.sampled_from(BLOCKS), label="block")
    kwargs = draw(settings_for(block))
    channels = kwargs.get("in_channel") or draw(st.integers(1, 24), label="C")
    shape = (draw(st.integers(1, 4), label="B"), channels,
             draw(st.integers(1, 9), label="H"), draw(st.integers(1, 9), label="W"))
    return {
        "block": block,
        "kwargs": kwargs,
        "shape": shape,
        "dtype": draw(st.sampled_from([torch.float32, torch.float64]), label="dtype"),
        "layout": draw(st.sampled_from(["contiguous", "channels_last", "non_contiguous"]), label="layout"),
        "ties": draw(st.booleans(), label="ties"),
        "train": draw(st.booleans(), label="train"),
        # None: the default; 0: the whole batch; 1: one sample per chunk
        "chunk_bytes": draw(st.sampled_from([None, 0, 1, 4096]), label="chunk_bytes"),
        "seed": draw(st.integers(0, 2**16), label="seed"),
    }


# ---------------------------------------------------------------- tests
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_matches_oracle_with_gradients(case):
    generator = torch.Generator().manual_seed(case["seed"])
    dtype = case["dtype"]
    module, spec_block, env, weights = build(case["block"], case["kwargs"], dtype, case["seed"])
    module.train(case["train"])
    x = make_input(case["shape"], dtype, case["layout"], case["ties"], generator)
    before = x.clone()
    grad_out = torch.randn(case["shape"], generator=generator, dtype=torch.float64).to(dtype)
    n = spec_block.budget(env, case["shape"])

    expected, expected_gx, expected_gw = oracle_run(spec_block, env, weights, x, grad_out)
    leaf = x.detach().requires_grad_()
    with chunking(case["chunk_bytes"]):
        out = module(leaf)
        grads = torch.autograd.grad(out, [leaf, *module.parameters()], grad_out)
        with torch.no_grad():
            out_no_grad = module(x)

    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    if case["layout"] == "channels_last":
        assert out.is_contiguous(memory_format=torch.channels_last), "channels_last output expected"
    assert torch.equal(x, before), "the input was modified"
    assert torch.equal(out.detach(), out_no_grad), "the no-grad path differs from the autograd path"
    assert_close(out, expected, n, dtype, "output")
    if dtype != torch.float64:
        # A float32 gradient is a sum of terms that may cancel: its error scales with the terms, not with
        # the result, and a budget relative to the result rejected a correct backward (a CBAM weight
        # gradient of 2e-5 off by 1.3e-7). As in the harness's gradient clauses, gradients are judged in float64.
        assert all(torch.isfinite(g).all() for g in grads), "a float32 gradient is not finite"
        return
    # Gradients sum over the batch and the other axes: allow for those additions too (as the harness does).
    n_grad = n + x.numel()
    assert_close(grads[0], expected_gx, n_grad, dtype, "input gradient")
    for (name, _), grad in zip(module.named_parameters(), grads[1:]):
        assert_close(grad, expected_gw[name], n_grad, dtype, f"gradient of {name}")


@pytest.mark.parametrize("chunk_bytes", [0, 1])
@pytest.mark.parametrize("block", BLOCKS)
def test_gradcheck(block, chunk_bytes):
    """Finite differences agree with the hand-written backward (and the double backward), for the input
    and every parameter."""
    kwargs = {"se": {"in_channel": 4, "ratio": 2}, "eca": {"in_channel": 4, "b": 1, "gamma": 1},
              "channel_attention": {"in_channel": 4, "ratio": 2}, "spatial_attention": {"kernel_size": 3},
              "cbam": {"in_channel": 4, "ratio": 2, "kernel_size": 3}}[block]
    module, *_ = build(block, kwargs, torch.float64)
    names = [name for name, _ in module.named_parameters()]
    x = torch.randn(2, 4, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]

    def call(x, *params):
        return torch.func.functional_call(module, dict(zip(names, params)), (x,))

    with chunking(chunk_bytes):
        assert torch.autograd.gradcheck(call, (x.requires_grad_(), *params))
        x_cl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
        assert torch.autograd.gradcheck(call, (x_cl, *params), fast_mode=True)
        # create_graph=True takes the differentiable backward: its own derivatives must be right too.
        assert torch.autograd.gradgradcheck(call, (x, *params), fast_mode=True)


@pytest.mark.parametrize("block", BLOCKS)
def test_gradients_of_only_some_inputs(block):
    """The backward's shortcuts when only the input, or only the parameters, need a gradient."""
    kwargs = {"se": {"in_channel": 8, "ratio": 2}, "eca": {"in_channel": 8, "b": 1, "gamma": 2},
              "channel_attention": {"in_channel": 8, "ratio": 2}, "spatial_attention": {"kernel_size": 3},
              "cbam": {"in_channel": 8, "ratio": 2, "kernel_size": 3}}[block]
    module, spec_block, env, weights = build(block, kwargs, torch.float64)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64, generator=generator)
    grad_out = torch.randn(x.shape, dtype=torch.float64, generator=generator)
    _, expected_gx, expected_gw = oracle_run(spec_block, env, weights, x, grad_out)
    n = spec_block.budget(env, tuple(x.shape)) + x.numel()

    module.requires_grad_(False)  # the input alone
    leaf = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(module(leaf), [leaf], grad_out)
    assert_close(gx, expected_gx, n, torch.float64, "input gradient, parameters frozen")

    for name, param in module.named_parameters():  # each parameter alone, the input a constant
        module.requires_grad_(False)
        param.requires_grad_(True)
        (gw,) = torch.autograd.grad(module(x), [param], grad_out)
        assert_close(gw, expected_gw[name], n, torch.float64, f"gradient of {name} alone")


@pytest.mark.parametrize("block", BLOCKS)
def test_deterministic(block):
    kwargs = {"se": {"in_channel": 32, "ratio": 4}, "eca": {"in_channel": 32, "b": 1, "gamma": 2},
              "channel_attention": {"in_channel": 32, "ratio": 4}, "spatial_attention": {"kernel_size": 7},
              "cbam": {"in_channel": 32, "ratio": 4, "kernel_size": 7}}[block]
    module, *_ = build(block, kwargs, torch.float32)
    x = torch.randn(4, 32, 16, 16)

    def run():
        leaf = x.clone().requires_grad_()
        out = module(leaf)
        return [out, *torch.autograd.grad(out.square().sum(), [leaf, *module.parameters()])]

    for first, second in zip(run(), run()):
        assert torch.equal(first, second)


@pytest.mark.parametrize("block", BLOCKS)
def test_large_output_on_huge_pages(block):
    """An output above the huge-page threshold (the madvise path) holds the same values."""
    kwargs = {"se": {"in_channel": 64, "ratio": 4}, "eca": {"in_channel": 64, "b": 1, "gamma": 2},
              "channel_attention": {"in_channel": 64, "ratio": 4}, "spatial_attention": {"kernel_size": 7},
              "cbam": {"in_channel": 64, "ratio": 4, "kernel_size": 7}}[block]
    module, spec_block, env, weights = build(block, kwargs, torch.float32)
    x = torch.randn(2, 64, 100, 100, generator=torch.Generator().manual_seed(3))
    assert x.numel() * x.element_size() > fast._HUGEPAGE_MIN_BYTES
    with torch.no_grad():
        out = module(x)
    expected = oracle.forward(SPEC, spec_block, env, weights, x.double())
    assert_close(out, expected, spec_block.budget(env, tuple(x.shape)), torch.float32, "output")


def test_empty_batch():
    module, *_ = build("cbam", {"in_channel": 8, "ratio": 2, "kernel_size": 3}, torch.float32)
    x = torch.randn(0, 8, 5, 5, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_constructor_domain():
    with pytest.raises(ValueError):
        fast.se(in_channel=3, ratio=4)
    with pytest.raises(ValueError):
        fast.spatial_attention(kernel_size=4)
    assert fast.eca(in_channel=64, b=1, gamma=2).conv.weight.shape == (1, 1, 3)
    assert fast.eca(in_channel=512, b=1, gamma=2).conv.weight.shape == (1, 1, 5)


def test_import_is_light():
    """Importing fast.py neither compiles nor looks up libc: the huge-page helper binds on first use."""
    module = _load_fast()
    assert module._libc.cache_info().currsize == 0
