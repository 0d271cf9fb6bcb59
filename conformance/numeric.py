"""Error bounds: the oracle's float64 values, each with how far a correct implementation may stray.

An implementation computes a block in float32 (or float64, bfloat16, float16, TF32 matmuls, under
autocast), in its own order of operations. How far its result may lie from the exact one depends on
the data: a logit summed from large terms of both signs is less certain than its value suggests,
a saturated gate is exact to the last bit. ``Bounded`` carries, beside each float64 value ``v``, a
first-order bound ``e`` on |implementation - exact| and the dtype the implementation holds the
tensor in. The oracle (``conformance/oracle.py``) is written against the tensor method API, so the
same recipe runs on plain tensors (values and autograd gradients) and on ``Bounded`` (values and
bounds). Rules, with u the unit roundoff of the result's dtype and N the number of terms:

- sum of N terms: sum of the terms' bounds + N u_acc sum|terms| (any summation order);
- dot products (linear, conv): |W| e_x + (operand rounding + K u_acc) |W||x| (+ rounding of the result);
- sigmoid: its largest slope within [z - e, z + e] times e; ReLU, clamp, max: 1-Lipschitz, exact;
- exp: exp(z) (exp(e) - 1), exact for any e; softmax: each share s_i moves by at most the factor
  exp(e_i + log sum_j s_j exp(e_j)) (convexity), plus the rounding of a shifted exp and of the sum;
- products and quotients: first-order propagation; every result: + u |v| + the dtype's tiny (underflow).

Each rule is a worst case over summation orders, so clauses compare |found - v| <= SAFETY * e
element by element: strict where the computation is well conditioned, lenient exactly where float
arithmetic cannot do better. ``Precision`` says how matmuls and convolutions round (strict IEEE,
TF32 operands, autocast to bfloat16/float16). A ``Tracker`` records, while a recipe runs, how close
any ReLU or clamp input came to its kink and any max to a tie, whether a normalisation ran over a
single value, and whether a value overflowed the dtype: gradients are only compared where the
block is differentiable and well conditioned.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from .lazy import lazy_torch
from .options import PRECISIONS, Precision

torch = lazy_torch()

SAFETY = 16  # |found - v| <= SAFETY * e: first-order bounds and library accuracy (sigmoid, exp) fit well inside
TF32_UNIT = 2.0**-11  # TF32 keeps 10 explicit mantissa bits: unit roundoff 2^-11


def unit(dtype) -> float:
    """Unit roundoff of a dtype: half its machine epsilon."""
    return torch.finfo(dtype).eps / 2


def gamma(n: float, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error of n accumulated roundings."""
    nu = n * u
    return nu / (1 - nu) if nu < 0.5 else math.inf


def accumulation_unit(dtype) -> float:
    """Sums of reduced-precision tensors accumulate in float32 in every PyTorch backend."""
    return unit(dtype) if dtype == torch.float64 else unit(torch.float32)


@dataclass
class Tracker:
    """What a bounded evaluation noticed: the nearest kink or tie, and overflow of a dtype's range."""

    precision: Precision = PRECISIONS["strict"]
    relative_margin: float = 1e-9  # a kink closer than this (relative to the tensor's scale) is "at" the kink
    sigmoid_error: float = 0.0  # absolute error of a runtime's approximate float32 sigmoid, beyond rounding
    nearest_kink: float = math.inf  # smallest distance / tolerance seen; < 1: not differentiable here
    kink_where: str = ""
    overflow: str = ""

    def note_kink(self, distance, bound, scale: float, what: str) -> None:
        tolerance = SAFETY * bound + self.relative_margin * scale
        ratio = (distance / tolerance.clamp_min(torch.finfo(torch.float64).tiny)).min().item() if distance.numel() else math.inf
        if ratio < self.nearest_kink:
            self.nearest_kink, self.kink_where = ratio, what

    def note_degenerate(self, what: str) -> None:
        """A point where the derivative exists but every implementation computes it as a difference of
        far larger terms (a normalisation over a single value: exactly zero, from terms 1 / sqrt(eps)
        times larger): gradients are not judged here, as at a kink."""
        if self.nearest_kink > 0:
            self.nearest_kink, self.kink_where = 0.0, what

    def note_range(self, v, e, dtype, what: str) -> None:
        if self.overflow or dtype != torch.float16 or not v.numel():
            return  # only float16's range (65504) is within reach of the drawn magnitudes
        if (v.abs() + e).max().item() > torch.finfo(dtype).max / SAFETY:
            self.overflow = f"{what} exceeds the range of {str(dtype)[6:]}"

    @property
    def differentiable(self) -> bool:
        return self.nearest_kink >= 1


_TRACKER: contextvars.ContextVar[Tracker] = contextvars.ContextVar("attncert_tracker", default=Tracker())


@contextlib.contextmanager
def tracking(precision: Precision, relative_margin: float = 1e-9, sigmoid_error: float = 0.0) -> Iterator[Tracker]:
    """Evaluate bounded recipes under ``precision`` (and a runtime's ``sigmoid_error``); the tracker
    collects kinks and overflow."""
    tracker = Tracker(precision, relative_margin, sigmoid_error)
    token = _TRACKER.set(tracker)
    try:
        yield tracker
    finally:
        _TRACKER.reset(token)


def _tracker() -> Tracker:
    return _TRACKER.get()


def note_degenerate(what: str) -> None:
    """Tell the running evaluation's tracker that gradients cannot be judged here (Tracker.note_degenerate)."""
    _tracker().note_degenerate(what)


def _rounding(v, dtype):
    """The rounding of a result to ``dtype``: relative u, plus the dtype's smallest normal for underflow."""
    return unit(dtype) * v.abs() + torch.finfo(dtype).tiny


def _scale(t) -> float:
    return t.abs().max().item() if t.numel() else 0.0


def coarser(*dtypes):
    """The dtype whose rounding is the coarsest (largest unit roundoff)."""
    return max(dtypes, key=unit)


class Bounded:
    """A float64 value ``v``, a bound ``e`` on an implementation's error, the implementation's ``dtype``.

    ``rounds_as`` is the coarsest precision the value has been through: under autocast a fused
    operation (BatchNorm, say) keeps reduced precision where arithmetic promotion would not, so
    every later rounding is counted at that precision, while ``dtype`` follows torch's promotion
    (it predicts the output's dtype).
    """

    __slots__ = ("v", "e", "dtype", "rounds_as")

    def __init__(self, v, e=None, dtype=None, rounds_as=None):
        self.v = v
        self.e = torch.zeros_like(v) if e is None else e
        self.dtype = dtype if dtype is not None else v.dtype
        self.rounds_as = rounds_as if rounds_as is not None else self.dtype
        _tracker().note_range(self.v, self.e, self.rounds_as, "a value")

    @classmethod
    def exact(cls, values, dtype) -> "Bounded":
        """An input tensor: exactly these values, held in ``dtype``."""
        return cls(values.to(torch.float64), None, dtype)

    # ------------------------------------------------------------ shape (no arithmetic: exact)
    def _same(self, fn) -> "Bounded":
        return Bounded(fn(self.v), fn(self.e), self.dtype, self.rounds_as)

    def _unary(self, v, e) -> "Bounded":
        """A result of this value alone, rounded at its precision."""
        return Bounded(v, e + _rounding(v, self.rounds_as), self.dtype, self.rounds_as)

    def __getitem__(self, index):
        return self._same(lambda t: t[index])

    def reshape(self, *shape):
        return self._same(lambda t: t.reshape(*shape))

    def flatten(self, *dims):
        return self._same(lambda t: t.flatten(*dims))

    def permute(self, *dims):
        return self._same(lambda t: t.permute(*dims))

    def unsqueeze(self, dim):
        return self._same(lambda t: t.unsqueeze(dim))

    def squeeze(self, dim):
        return self._same(lambda t: t.squeeze(dim))

    def split(self, sizes, dim):
        return [Bounded(v, e, self.dtype, self.rounds_as) for v, e in zip(self.v.split(sizes, dim), self.e.split(sizes, dim))]

    @property
    def shape(self):
        return self.v.shape

    # ------------------------------------------------------------ elementwise arithmetic
    @staticmethod
    def _operand(other, like: "Bounded") -> "Bounded":
        if isinstance(other, Bounded):
            return other
        if isinstance(other, (int, float)):  # Python scalars do not promote the dtype
            return Bounded(torch.full_like(like.v, float(other)), None, like.dtype, like.rounds_as)
        return Bounded(other.to(torch.float64), None, other.dtype)

    def _result(self, other: "Bounded", v, e) -> "Bounded":
        dtype = torch.promote_types(self.dtype, other.dtype)
        rounds_as = coarser(self.rounds_as, other.rounds_as, dtype)
        return Bounded(v, e + _rounding(v, rounds_as), dtype, rounds_as)

    def __add__(self, other):
        other = self._operand(other, self)
        return self._result(other, self.v + other.v, self.e + other.e)

    __radd__ = __add__

    def __sub__(self, other):
        other = self._operand(other, self)
        return self._result(other, self.v - other.v, self.e + other.e)

    def __rsub__(self, other):
        return self._operand(other, self) - self

    def __neg__(self):
        return Bounded(-self.v, self.e, self.dtype, self.rounds_as)

    def __mul__(self, other):
        other = self._operand(other, self)
        # an exact zero times anything is exactly zero: in each term 0 * inf counts as 0, never NaN
        terms = (self.v.abs() * other.e, self.e * other.v.abs(), self.e * other.e)
        e = sum(term.nan_to_num(nan=0.0, posinf=math.inf) for term in terms)
        return self._result(other, self.v * other.v, e)

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = self._operand(other, self)
        v = self.v / other.v
        room = other.v.abs() - other.e  # the denominator's distance from zero, at worst
        e = torch.where(room > 0, (self.e + v.abs() * other.e) / room.clamp_min(torch.finfo(torch.float64).tiny), math.inf)
        return self._result(other, v, e)

    def pow(self, exponent: int):
        if exponent != 2:
            raise NotImplementedError("only squares are bounded")
        return self * self

    def sqrt(self):
        v = self.v.sqrt()
        low = (self.v - self.e).clamp_min(0).sqrt()
        # sqrt(a) - sqrt(a - e) = e / (sqrt(a) + sqrt(a - e)), and never more than sqrt(e) (at a = 0)
        moved = torch.minimum(self.e / (v + low).clamp_min(torch.finfo(torch.float64).tiny), self.e.sqrt())
        return self._unary(v, moved)

    # ------------------------------------------------------------ nonlinearities
    def sigmoid(self):
        v = self.v.sigmoid()
        # the largest slope s(1 - s) within [z - e, z + e] is where that interval comes closest to 0
        nearest = torch.where(self.v.abs() <= self.e, torch.zeros_like(self.v), self.v - self.v.sign() * self.e)
        slope = nearest.sigmoid() * (1 - nearest.sigmoid())
        # a runtime's approximate sigmoid (onnxruntime's) is accurate to an absolute error, not a relative one
        approximation = _tracker().sigmoid_error if self.rounds_as != torch.float64 else 0.0
        out = self._unary(v, slope * self.e + 3 * _rounding(v, self.rounds_as) + approximation)  # 4 roundings in all
        return out.within(1.0)  # a gate in [0, 1]

    def within(self, width: float) -> "Bounded":
        """The same value, known to lie in an interval ``width`` wide whatever its inputs (a sigmoid,
        a softmax share, a normalised value): no error can exceed that width (plus its own rounding)."""
        limit = width * (1 + 4 * unit(self.rounds_as))
        return Bounded(self.v, self.e.clamp_max(limit), self.dtype, self.rounds_as)

    def exp(self):
        v = self.v.exp()
        # exp(z + d) - exp(z) <= exp(z) (exp(e) - 1) for every |d| <= e: sound beyond first order
        spread = (v * torch.expm1(self.e)).nan_to_num(nan=math.inf)
        return self._unary(v, spread + 2 * _rounding(v, self.rounds_as))  # a library exp: within 2 roundings

    def softmax(self, dim: int):
        """exp(z_i - max z) / sum_j exp(z_j - max z) along ``dim`` (see the module docstring)."""
        z = self.v - self.v.amax(dim, keepdim=True)  # the shift is exact here and cancels in the quotient
        s = z.softmax(dim)
        # With |d_j| <= e_j, s_i' / s_i = exp(d_i) / sum_j s_j exp(d_j) lies within exp(-/+(e_i + L)),
        # L = log sum_j s_j exp(e_j) >= sum_j s_j e_j (Jensen): for every d, not only to first order.
        reach = torch.logsumexp(s.log() + self.e, dim, keepdim=True)
        spread = (s * torch.expm1(self.e + reach)).nan_to_num(nan=math.inf)
        # rounding: z_j - max (u |z_j|) and exp (2u) per term, the sum of n terms, the quotient
        u = accumulation_unit(self.rounds_as)
        term = u * (z.abs() + 2)
        rounding = s * (term + (s * term).sum(dim, keepdim=True) + gamma(self.v.shape[dim], u) + u)
        return self._unary(s, spread + rounding).within(1.0)  # shares in [0, 1]

    def clamp(self, low=None, high=None):
        tracker = _tracker()
        for edge in (low, high):
            if edge is not None:
                tracker.note_kink((self.v - edge).abs(), self.e, _scale(self.v), f"clamp at {edge:g}")
        return Bounded(self.v.clamp(low, high), self.e, self.dtype, self.rounds_as)

    def relu(self):
        return self.clamp(0.0)

    def clamp_min(self, low):
        return self.clamp(low)

    # ------------------------------------------------------------ reductions
    def sum(self, dim, keepdim: bool = False):
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        n = math.prod(self.v.shape[d] for d in dims)
        v = self.v.sum(dims, keepdim=keepdim)
        spread = gamma(n, accumulation_unit(self.rounds_as)) * self.v.abs().sum(dims, keepdim=keepdim)
        return self._unary(v, self.e.sum(dims, keepdim=keepdim) + spread)

    def mean(self, dim, keepdim: bool = False):
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        n = math.prod(self.v.shape[d] for d in dims)
        total = self.sum(dims, keepdim)
        v = total.v / n
        return total._unary(v, total.e / n)

    def amax(self, dim, keepdim: bool = False):
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        v = self.v.amax(dims, keepdim=keepdim)
        e = self.e.amax(dims, keepdim=keepdim)  # a max moves by at most its arguments' largest error
        moved = self.v.movedim(dims, tuple(range(-len(dims), 0))).flatten(-len(dims))
        if moved.shape[-1] > 1:
            top = moved.topk(2, dim=-1).values
            err = self.e.movedim(dims, tuple(range(-len(dims), 0))).flatten(-len(dims)).amax(-1)
            _tracker().note_kink(top[..., 0] - top[..., 1], 2 * err, _scale(self.v), "a tie in a max")
        return Bounded(v, e, self.dtype, self.rounds_as)


# ---------------------------------------------------------------- dot products
def _dot_product(x: Bounded, weight, bias, apply, fan_in: int) -> Bounded:
    """``apply(values, weight, bias)`` is a linear map (linear, conv): bound it and round as the precision does."""
    precision = _tracker().precision
    w, b = _plain(weight), None if bias is None else _plain(bias)
    v = apply(x.v, w, b)
    magnitude = apply(x.v.abs(), w.abs(), None if b is None else b.abs())
    operand, dtype, rounds_as = 0.0, x.dtype, x.rounds_as
    low = precision.autocast_dtype
    if low is not None and x.dtype != torch.float64:
        # autocast casts both operands, and the result is low precision
        operand, dtype, rounds_as = 2 * unit(low), low, coarser(low, x.rounds_as)
    elif precision.tf32 and x.dtype == torch.float32:
        operand = 2 * TF32_UNIT
    terms = fan_in + (bias is not None)
    e = apply(x.e, w.abs(), None) + (operand + gamma(terms, accumulation_unit(rounds_as))) * magnitude
    _tracker().note_range(magnitude, e, rounds_as, "a dot product")
    return Bounded(v, e + _rounding(v, rounds_as), dtype, rounds_as)


def _plain(t):
    """A weight's float64 values (the oracle hands weights to bounded recipes as exact ``Bounded``)."""
    return t.v if isinstance(t, Bounded) else t.to(torch.float64)


def linear(x, weight, bias=None):
    functional = torch.nn.functional
    if not isinstance(x, Bounded):
        return functional.linear(x, weight, bias)
    return _dot_product(x, weight, bias, functional.linear, _plain(weight).shape[-1])


def conv1d(x, weight, bias=None, padding: int = 0, circular: bool = False):
    """Cross-correlation of [B, 1, L] with [1, 1, k], zero or circular padding on each side."""
    functional = torch.nn.functional

    def apply(values, w, b):
        if circular:  # by index, not F.pad: a padding longer than the sequence wraps around again
            length = values.shape[-1]
            wrapped = torch.arange(-padding, length + padding, device=values.device) % length
            return functional.conv1d(values[..., wrapped], w, b)
        return functional.conv1d(values, w, b, padding=padding)

    if not isinstance(x, Bounded):
        return apply(x, weight, bias)
    return _dot_product(x, weight, bias, apply, _plain(weight)[0].numel())


def conv2d(x, weight, bias=None, padding: int = 0, dilation: int = 1, groups: int = 1):
    """Cross-correlation with zero padding, dilation and groups (each output sums weight[0].numel() terms)."""
    functional = torch.nn.functional

    def apply(values, w, b):
        return functional.conv2d(values, w, b, padding=padding, dilation=dilation, groups=groups)

    if not isinstance(x, Bounded):
        return apply(x, weight, bias)
    return _dot_product(x, weight, bias, apply, _plain(weight)[0].numel())


def softmax(x, dim: int):
    """Softmax along ``dim`` of a tensor or a ``Bounded`` (whose rule is Bounded.softmax)."""
    return x.softmax(dim)


def cat(tensors: Sequence, dim: int):
    if not any(isinstance(t, Bounded) for t in tensors):
        return torch.cat(list(tensors), dim)
    parts = [t if isinstance(t, Bounded) else Bounded.exact(t, t.dtype) for t in tensors]
    dtype = parts[0].dtype
    for p in parts[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    rounds_as = coarser(*(p.rounds_as for p in parts))
    return Bounded(torch.cat([p.v for p in parts], dim), torch.cat([p.e for p in parts], dim), dtype, rounds_as)


@dataclass
class Comparison:
    """The worst element of a comparison against a bounded expectation."""

    ok: bool
    index: tuple[int, ...] = ()
    found: float = 0.0
    expected: float = 0.0
    allowed: float = 0.0
    ratio: float = 0.0  # |found - expected| / allowed at the worst element
    details: dict = field(default_factory=dict)


def unravel(flat: int, shape) -> tuple[int, ...]:
    """The index of element ``flat`` of a row-major tensor of ``shape``."""
    index = []
    for size in reversed(tuple(shape)):
        flat, rest = divmod(flat, size)
        index.append(rest)
    return tuple(reversed(index))


def compare(found, expected: Bounded, spread: float = 1.0) -> Comparison:
    """Whether ``found`` is within SAFETY * spread * e of ``expected.v`` everywhere (NaN never is)."""
    found64 = found.detach().to("cpu", torch.float64)
    allowed = SAFETY * spread * expected.e + torch.finfo(found.dtype).tiny
    excess = (found64 - expected.v).abs() / allowed
    excess = torch.where(excess.isnan(), torch.full_like(excess, math.inf), excess)
    if not excess.numel():
        return Comparison(True)
    index = unravel(int(excess.argmax()), excess.shape)
    worst = excess[index].item()
    return Comparison(worst <= 1, index, found64[index].item(), expected.v[index].item(), allowed[index].item(), worst)
