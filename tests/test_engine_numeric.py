"""The error bounds (conformance/numeric.py): derived from each precision, never loosened by hand.

Each rule must hold for real float computations in any summation order, and be no looser than
what the precision implies: float32 results lie within their strict bound; TF32-rounded operands
(10-bit mantissas) lie within the TF32 bound but not the strict one; torch.autocast results lie
within the autocast bound and have the dtype it predicts.
"""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from conformance import numeric
from conformance.numeric import PRECISIONS, SAFETY, TF32_UNIT, Bounded, tracking, unit


def test_units_come_from_the_formats():
    assert unit(torch.float32) == 2.0**-24 and unit(torch.float64) == 2.0**-53
    assert unit(torch.bfloat16) == 2.0**-8 and unit(torch.float16) == 2.0**-11
    assert TF32_UNIT == 2.0**-11  # TF32 keeps float16's 10 explicit mantissa bits
    assert numeric.gamma(10, 2.0**-24) == pytest.approx(10 * 2.0**-24, rel=1e-6)
    assert numeric.gamma(2**24, 2.0**-24) == math.inf  # no bound once n u reaches 1/2
    assert numeric.accumulation_unit(torch.bfloat16) == unit(torch.float32)


def round_to_tf32(t: torch.Tensor) -> torch.Tensor:
    """Round float64 values to TF32 (8-bit exponent, 10-bit mantissa), to nearest."""
    mantissa, exponent = torch.frexp(t)
    return torch.ldexp(torch.round(mantissa * 2**11) / 2**11, exponent)


def gate(x, w1, w2):
    """An SE gate's arithmetic: pool, two linear maps, ReLU, sigmoid, times the input."""
    hidden = numeric.linear(x.mean(dim=(2, 3)), w1).relu()
    return x * numeric.linear(hidden, w2).sigmoid()[:, :, None, None]


def bounded_gate(x64, w1, w2, dtype, precision="strict"):
    with tracking(PRECISIONS[precision]):
        return gate(Bounded.exact(x64, dtype), Bounded.exact(w1, dtype), Bounded.exact(w2, dtype))


shapes = st.tuples(st.integers(1, 3), st.integers(1, 96), st.integers(1, 9), st.integers(1, 9))
magnitudes = st.sampled_from([2.0**e for e in (-8, -2, 0, 3, 8)])


@settings(max_examples=40, deadline=None)
@given(shape=shapes, scale=magnitudes, weight_scale=magnitudes, seed=st.integers(0, 2**16))
def test_float32_results_lie_within_their_bound(shape, scale, weight_scale, seed):
    g = torch.Generator().manual_seed(seed)
    b, c, h, w = shape
    hidden = max(1, c // 4)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).float().double()
    w1 = (torch.randn(hidden, c, generator=g, dtype=torch.float64) * weight_scale / math.sqrt(c)).float().double()
    w2 = (torch.randn(c, hidden, generator=g, dtype=torch.float64) * weight_scale / math.sqrt(hidden)).float().double()
    found = gate(x.float(), w1.float(), w2.float())
    expected = bounded_gate(x, w1, w2, torch.float32)
    assert numeric.compare(found, expected).ok
    # and the bound is no wider than a few float32 roundings of the values involved
    assert (expected.e <= 1e-3 * (x.abs() + 1e-30) * (1 + weight_scale**2 * scale * c)).all()


def test_tf32_operands_need_the_tf32_bound():
    """Operands rounded to TF32 stay within the TF32 bound, and outside the strict float32 one."""
    g = torch.Generator().manual_seed(0)  # few terms per dot product: the strict bound is tight
    x = torch.randn(4, 8, 1, 1, generator=g, dtype=torch.float64).float().double()
    w1 = (torch.randn(2, 8, generator=g, dtype=torch.float64) / 3).float().double()
    w2 = (torch.randn(8, 2, generator=g, dtype=torch.float64)).float().double()
    pooled = x.mean(dim=(2, 3))
    hidden = torch.relu(round_to_tf32(pooled) @ round_to_tf32(w1).T)
    emulated = x * torch.sigmoid(round_to_tf32(hidden) @ round_to_tf32(w2).T)[:, :, None, None]
    assert numeric.compare(emulated, bounded_gate(x, w1, w2, torch.float32, "tf32")).ok
    assert not numeric.compare(emulated, bounded_gate(x, w1, w2, torch.float32, "strict")).ok


@pytest.mark.parametrize("precision, low", [("autocast-bf16", torch.bfloat16), ("autocast-fp16", torch.float16)])
def test_autocast_results_lie_within_the_autocast_bound(precision, low):
    """On the CPU, torch.autocast runs linear layers in the low dtype: the bound follows it, and
    predicts the output's dtype (float32 x low-precision gate promotes to float32)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 32, 4, 4, generator=g, dtype=torch.float64).float().double()
    w1 = (torch.randn(8, 32, generator=g, dtype=torch.float64) / 6).float().double()
    w2 = (torch.randn(32, 8, generator=g, dtype=torch.float64) / 3).float().double()
    with torch.autocast("cpu", dtype=low):
        found = gate(x.float(), w1.float(), w2.float())
    expected = bounded_gate(x, w1, w2, torch.float32, precision)
    assert found.dtype == expected.dtype == torch.float32
    assert numeric.compare(found, expected).ok
    strict = bounded_gate(x, w1, w2, torch.float32)
    assert (expected.e > 100 * strict.e).all()  # the reduced precision, not slack, sets the bound


def test_sigmoid_bound_uses_its_steepest_slope_in_reach():
    with tracking(PRECISIONS["strict"]):
        z = Bounded(torch.tensor([0.0, 40.0]), torch.tensor([0.1, 0.1]), torch.float64)
        s = z.sigmoid()
    assert s.e[0].item() == pytest.approx(0.25 * 0.1, rel=1e-3)  # at 0 the slope is 1/4
    assert s.e[1].item() < 1e-15  # saturated: nothing to lose


def test_kinks_and_overflow_are_noticed():
    with tracking(PRECISIONS["strict"], relative_margin=1e-3) as tracker:
        Bounded(torch.tensor([1.0, 1e-9, -2.0]), None, torch.float64).relu()
    assert not tracker.differentiable and "clamp at 0" in tracker.kink_where
    with tracking(PRECISIONS["strict"]) as tracker:
        Bounded(torch.tensor([[3.0, 3.0, 1.0]]), None, torch.float64).amax(1)
    assert not tracker.differentiable and "tie" in tracker.kink_where
    with tracking(PRECISIONS["autocast-fp16"]) as tracker:
        numeric.linear(Bounded.exact(torch.full((1, 4), 300.0), torch.float32), torch.full((2, 4), 100.0))
    assert "range of float16" in tracker.overflow


def test_a_comparison_names_the_worst_element():
    expected = Bounded(torch.zeros(2, 3, dtype=torch.float64), torch.full((2, 3), 1e-6, dtype=torch.float64), torch.float64)
    found = torch.zeros(2, 3, dtype=torch.float64)
    found[1, 2] = 1.0
    result = numeric.compare(found, expected)
    assert not result.ok and result.index == (1, 2) and result.allowed == pytest.approx(SAFETY * 1e-6)
    found[1, 2] = math.nan
    assert not numeric.compare(found, expected).ok


# ---------------------------------------------------------------- exp, softmax, grouped and dilated convolutions
@settings(max_examples=30, deadline=None)
@given(scale=magnitudes, seed=st.integers(0, 2**16))
def test_float32_exp_lies_within_its_bound(scale, seed):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(3, 40, generator=g, dtype=torch.float64) * scale).clamp(-80, 80).float().double()
    with tracking(PRECISIONS["strict"]):
        expected = (Bounded.exact(z, torch.float32) * 0.75).exp()  # an input that carries an error of its own
    assert numeric.compare((z.float() * 0.75).exp(), expected).ok
    assert (expected.e <= 1e-5 * expected.v * (1 + z.abs())).all()  # a few roundings, relative to the value


def test_exp_bound_is_exact_beyond_first_order_and_float16_overflow_is_noticed():
    with tracking(PRECISIONS["strict"]):
        y = Bounded(torch.tensor([0.0, 10.0], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64),
                    torch.float64).exp()
    assert y.e[0].item() >= math.e - 1 and y.e[1].item() >= math.exp(10.5) - math.exp(10)  # exp(z + e) - exp(z)
    with tracking(PRECISIONS["strict"]) as tracker:
        Bounded.exact(torch.tensor([12.0]), torch.float16).exp()  # e^12 = 162755 > 65504
    assert "range of float16" in tracker.overflow


softmax_shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 70))


@settings(max_examples=40, deadline=None)
@given(shape=softmax_shapes, scale=st.sampled_from([2.0**e for e in (-10, -2, 0, 3, 6, 9)]), seed=st.integers(0, 2**16))
def test_float32_softmax_lies_within_its_bound(shape, scale, seed):
    """torch.softmax in float32, and the shifted exp written out, lie within the bound of logits that
    carry an error of their own (a dot product), for logits from tiny to far beyond exp's range."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).float().double()
    w = (torch.randn(shape[-1], shape[-1], generator=g, dtype=torch.float64) / math.sqrt(shape[-1])).float().double()
    with tracking(PRECISIONS["strict"]) as tracker:
        expected = numeric.softmax(numeric.linear(Bounded.exact(x, torch.float32), w), -1)
    assert not tracker.overflow and expected.dtype == torch.float32
    logits = numeric.linear(x.float(), w.float())
    assert numeric.compare(torch.softmax(logits, -1), expected).ok
    shifted = (logits - logits.amax(-1, keepdim=True)).exp()
    assert numeric.compare(shifted / shifted.sum(-1, keepdim=True), expected).ok
    # no looser than the precision implies: a few float32 roundings per logit, relative to the share
    assert (expected.e <= 1e-3 * expected.v * (1 + scale) * shape[-1] + 1e-30).all()


def test_softmax_shares_move_together_and_a_tie_is_no_kink():
    with tracking(PRECISIONS["strict"], relative_margin=1e-3) as tracker:
        s = Bounded(torch.tensor([[1.0, 1.0, -30.0]], dtype=torch.float64), torch.full((1, 3), 1e-3, dtype=torch.float64),
                    torch.float64).softmax(-1)
    assert tracker.differentiable  # softmax is smooth everywhere: a tie in its shift is no kink
    assert s.v.sum().item() == pytest.approx(1.0)
    assert s.e[0, 0].item() == pytest.approx(0.5 * math.expm1(2e-3), rel=1e-6)  # e_i + L, L = e for equal e
    assert s.e[0, 2].item() < 1e-15  # a share of e^-31 cannot move by more than itself times the factor


@pytest.mark.parametrize("dilation, groups, padding", [(1, 1, 1), (2, 1, 2), (1, 4, 1), (3, 2, 3), (4, 8, 4)])
def test_float32_grouped_dilated_convolutions_lie_within_their_bound(dilation, groups, padding):
    g = torch.Generator().manual_seed(dilation * 10 + groups)
    x = torch.randn(2, 16, 6, 9, generator=g, dtype=torch.float64).float().double()
    w = (torch.randn(16, 16 // groups, 3, 3, generator=g, dtype=torch.float64) / 6).float().double()
    b = torch.randn(16, generator=g, dtype=torch.float64).float().double()
    with tracking(PRECISIONS["strict"]):
        expected = numeric.conv2d(Bounded.exact(x, torch.float32), w, b, padding, dilation, groups)
    found = torch.nn.functional.conv2d(x.float(), w.float(), b.float(), padding=padding, dilation=dilation, groups=groups)
    assert found.shape == expected.shape and numeric.compare(found, expected).ok
    exact = torch.nn.functional.conv2d(x, w, b, padding=padding, dilation=dilation, groups=groups)
    assert torch.equal(expected.v, exact)
    # the fan-in is the group's taps (16 / groups x 9), not the dense kernel's nor the padded zeros
    magnitude = torch.nn.functional.conv2d(x.abs(), w.abs(), b.abs(), padding=padding, dilation=dilation, groups=groups)
    assert (expected.e <= 2 * numeric.gamma(16 // groups * 9 + 1, unit(torch.float32)) * magnitude + 1e-30).all()


def test_sqrt_moves_by_at_most_the_root_of_its_argument_error():
    """|sqrt(a') - sqrt(a)| <= sqrt(|a' - a|): a variance of exactly 0 known to 1e-16 gives a standard
    deviation known to 1e-8, not an unbounded one; away from 0 the first-order rule is tighter."""
    with tracking(PRECISIONS["strict"]):
        root = Bounded(torch.tensor([0.0, 4.0], dtype=torch.float64), torch.tensor([1e-16, 1e-16], dtype=torch.float64),
                       torch.float64).sqrt()
    assert root.e[0].item() == pytest.approx(1e-8, rel=1e-6)
    assert root.e[1].item() == pytest.approx(1e-16 / 4, rel=1e-3)
    for a, e in ((0.0, 1e-16), (1e-20, 1e-16), (4.0, 1e-16)):  # the bound holds for every a' within e of a
        worst = max(abs(math.sqrt(max(a + d, 0.0)) - math.sqrt(a)) for d in (-e, e))
        with tracking(PRECISIONS["strict"]):
            bound = Bounded(torch.tensor([a], dtype=torch.float64), torch.tensor([e], dtype=torch.float64),
                            torch.float64).sqrt().e.item()
        assert worst <= bound * (1 + 1e-12)


def test_a_gate_is_never_off_by_more_than_one_and_zero_times_inf_is_zero():
    """A sigmoid (or softmax share) whose logit is unknown (bound inf) is still a value in [0, 1], as
    every implementation's is; an exact zero times it is exactly zero, never NaN (which no comparison
    would pass)."""
    with tracking(PRECISIONS["strict"]):
        logits = Bounded(torch.tensor([[0.0, 3.0]], dtype=torch.float64), torch.full((1, 2), math.inf, dtype=torch.float64),
                         torch.float32)
        gate, shares = logits.sigmoid(), logits.softmax(1)
        product = Bounded.exact(torch.tensor([[0.0, 2.0]]), torch.float32) * gate
        unknown = logits * Bounded.exact(torch.tensor([[0.5, 2.0]]), torch.float32)  # unknown times exact stays unknown
    assert (gate.e <= 1 + 1e-6).all() and (shares.e <= 1 + 1e-6).all()
    assert (unknown.e == math.inf).all()
    assert product.e[0, 0].item() <= torch.finfo(torch.float32).tiny and product.e[0, 1].item() <= 2 * (1 + 1e-6)


def test_a_single_value_normalised_is_bounded_by_how_implementations_round_it():
    """GroupNorm over one value is exactly its bias, but torch computes x * (rstd w) + (b - mean rstd w),
    terms of size |x| w / sqrt(eps) (float32: 0.04 off at x = -3000): the bound covers that rounding
    instead of claiming the bias exactly."""
    from conformance.oracle import GROUPNORM_EPS, _normalised

    x = torch.tensor([[[[2.0177260314861085]]], [[[-3e3]]], [[[0.1]]]], dtype=torch.float64)
    weight, bias = torch.tensor([1.75], dtype=torch.float64), torch.tensor([0.25], dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        with tracking(PRECISIONS["strict"]):
            expected = _normalised(Bounded.exact(x, dtype), (2, 3), GROUPNORM_EPS) * weight + bias
        found = torch.nn.functional.group_norm(x.to(dtype), 1, weight.to(dtype), bias.to(dtype))  # one value per group
        assert (expected.v == 0.25).all() and not (found.double() == 0.25).all()
        assert numeric.compare(found, expected).ok


def test_a_normalisation_over_one_value_takes_the_case_out_of_gradient_checks():
    """LayerNorm over one value is its bias: the derivative is exactly zero, but torch's backward
    computes it as a difference of terms 1 / sqrt(eps) larger, so no gradient tolerance derived from
    the result can judge it; over two values it is an ordinary case."""
    from conformance.oracle import _normalised

    for n, judged in ((1, False), (2, True)):
        with tracking(PRECISIONS["strict"], relative_margin=1e-3) as tracker:
            _normalised(Bounded.exact(torch.arange(1.0, n + 1).reshape(1, n), torch.float64), (1,), 1e-5)
        assert tracker.differentiable is judged
        assert judged or "single value" in tracker.kink_where
    x = torch.tensor([[-0.14701893646765551]], dtype=torch.float64, requires_grad=True)  # from a global context case
    weight, cotangent = torch.tensor([-3.692368904993934], dtype=torch.float64), torch.tensor([[16.308812575083447]], dtype=torch.float64)
    torch.nn.functional.layer_norm(x, (1,), weight).backward(cotangent)
    assert x.grad.item() != 0  # rounding noise (about 1e-12 here) where the derivative is exactly 0
