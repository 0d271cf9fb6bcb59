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
