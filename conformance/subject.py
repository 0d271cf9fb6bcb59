"""The implementation under test for one block, and the guarded ways clauses touch it.

Every call into user code goes through ``build`` or ``call``, which turn its misbehaviour (an
exception, a non-module, a non-tensor, NaN, a change of torch's global state) into a
``ClauseFailure`` with a one-line reason and a ``cause`` that groups clauses failing for one reason.
``Conditions`` say where and how clauses run: the device, and the precision profile whose settings
(TF32, autocast) the harness sets for every clause and restores afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from . import numeric, oracle
from .cases import Case
from .expr import Expr
from .lazy import lazy_torch
from .numeric import Bounded
from .options import PRECISIONS, Precision
from .spec import EAGER, BlockSpec, RuntimeSpec, Spec

torch = lazy_torch()

GRADIENT_SAFETY = 16  # gradients: 16 n eps, with n from the spec's error_budget (+ the input's size)


class ClauseFailure(AssertionError):
    """A clause's property does not hold; the message says what was found and what was expected.

    ``cause`` names the shared reason when one exists (the constructor raised, the weights cannot
    be transferred, forward raised): reports group the clauses that fail for it.
    """

    __tracebackhide__ = True

    def __init__(self, message: str, cause: str | None = None):
        super().__init__(message)
        self.cause = cause


class Unjudgeable(Exception):
    """This case cannot judge the clause (a kink under a gradient check, a value beyond float16): draw another."""


@dataclass
class Adapter:
    """A loaded plug-in: its factories, weight loaders, declared variants and domains (the plug-in contract)."""

    label: str
    factories: Mapping[str, Callable[..., Any]]
    loaders: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    domains: Mapping[str, Expr] = field(default_factory=dict)
    defines: tuple[str, ...] = ()  # the module's own public callables (to say what a target without factories has)


@dataclass(frozen=True)
class Conditions:
    """Where and how clauses run: ``--device``, the precision profile (``--tf32``, ``--autocast``) and
    the runtime the block is deployed in (``--runtime``)."""

    device: str = "cpu"
    precision: Precision = PRECISIONS["strict"]
    runtime: RuntimeSpec = EAGER

    @property
    def deployed(self) -> bool:
        """Whether forward runs through a runtime's artifact rather than the module itself."""
        return self.runtime.name != "eager"

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]


@dataclass
class Subject:
    spec: Spec
    block: BlockSpec
    adapter: Adapter
    variant: Mapping[str, Any] = field(default_factory=dict)  # empty: the plain spec
    domain: Expr | None = None  # a declared domain restriction (certified within it)
    conditions: Conditions = field(default_factory=Conditions)

    @property
    def factory(self) -> Callable[..., Any]:
        return self.adapter.factories[self.block.factory]

    def env(self, case: Case) -> dict[str, Any]:
        return self.block.env(case.kwargs, self.variant)

    def for_block(self, name: str) -> "Subject":
        """The same adapter, variant options and conditions, for another block (e.g. a CBAM stage)."""
        block = self.spec.block(name)
        known = {v.name for v in block.variants}
        return Subject(self.spec, block, self.adapter, {k: v for k, v in self.variant.items() if k in known},
                       None, self.conditions)


# ---------------------------------------------------------------- torch global state
# torch >= 2.9 sets float32 precision per backend and operation (``fp32_precision``: "ieee",
# "tf32", "bf16", "none" = defer); mixing that with the legacy flags makes the legacy getter raise,
# so the harness reads and writes the new settings where they exist, the legacy ones elsewhere.
FP32_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul", "mkldnn.conv", "mkldnn.rnn")


@functools.lru_cache(maxsize=1)
def _precision_knobs() -> dict[str, tuple[Callable[[], Any], Callable[[Any], None]]]:
    """name -> (getter, setter) of every float32 precision setting this torch has."""
    knobs = {}
    for path in FP32_BACKENDS:
        holder = torch.backends
        for part in path.split("."):
            holder = getattr(holder, part, None)
        if holder is not None and hasattr(holder, "fp32_precision"):
            knobs[f"{path} fp32_precision"] = (lambda h=holder: h.fp32_precision,
                                               lambda value, h=holder: setattr(h, "fp32_precision", value))
    if knobs:
        return knobs
    return {  # torch < 2.9
        "float32 matmul precision": (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
        "cuda matmul TF32": (lambda: torch.backends.cuda.matmul.allow_tf32,
                             lambda value: setattr(torch.backends.cuda.matmul, "allow_tf32", value)),
        "cudnn TF32": (lambda: torch.backends.cudnn.allow_tf32, lambda value: setattr(torch.backends.cudnn, "allow_tf32", value)),
    }


def _precision_settings() -> dict[str, Any]:
    return {name: get() for name, (get, _) in _precision_knobs().items()}


def _set_precision_settings(settings: Mapping[str, Any]) -> None:
    knobs = _precision_knobs()
    for name, value in settings.items():
        if name in knobs:
            knobs[name][1](value)


def wanted_precision(precision: Precision) -> dict[str, Any]:
    """What the harness sets for a precision profile: IEEE float32 everywhere, or TF32 for matmuls and convolutions."""
    knobs = _precision_knobs()
    if "float32 matmul precision" in knobs:
        return {"float32 matmul precision": "high" if precision.tf32 else "highest",
                "cuda matmul TF32": precision.tf32, "cudnn TF32": precision.tf32}
    return {name: "tf32" if precision.tf32 and "rnn" not in name else "ieee" for name in knobs}


@contextlib.contextmanager
def precision_settings(precision: Precision) -> Iterator[None]:
    """Strict IEEE float32 (TF32 off) or TF32 for the duration of a clause; the caller's settings after."""
    saved = _precision_settings()
    _set_precision_settings(wanted_precision(precision))
    try:
        yield
    finally:
        _set_precision_settings(saved)


def _global_state() -> dict[str, Any]:
    return {
        "default dtype": torch.get_default_dtype(),
        "grad mode": torch.is_grad_enabled(),
        "number of threads": torch.get_num_threads(),
        **_precision_settings(),
    }


def _check_state(before: Mapping[str, Any], what: str) -> None:
    after = _global_state()
    changed = [k for k in before if before[k] != after[k]]
    if changed:
        torch.set_default_dtype(before["default dtype"])
        torch.set_grad_enabled(before["grad mode"])
        torch.set_num_threads(before["number of threads"])
        _set_precision_settings(before)
        k = changed[0]
        raise ClauseFailure(f"{what} changed torch's global {k} from {before[k]} to {after[k]}", cause=f"global {k}")


# ---------------------------------------------------------------- guarded calls
def _call_text(subject: Subject, case: Case) -> str:
    return f"{subject.block.factory}({', '.join(f'{k}={v!r}' for k, v in case.kwargs.items())})"


def build(subject: Subject, case: Case) -> "torch.nn.Module":
    """Construct the module with exactly the spec's keywords, in the case's dtype, on the run's device."""
    before = _global_state()
    call_text = _call_text(subject, case)
    try:
        module = subject.factory(**case.kwargs)
    except ClauseFailure:
        raise
    except Exception as err:
        raise ClauseFailure(f"{call_text} raised {type(err).__name__}: {err}", cause=f"construct:{type(err).__name__}") from err
    _check_state(before, call_text)
    if not isinstance(module, torch.nn.Module):
        raise ClauseFailure(f"{call_text} returned {type(module).__name__}, not a torch.nn.Module", cause="construct:type")
    try:
        module = module.to(device=subject.conditions.device, dtype=getattr(torch, case.dtype))
    except Exception as err:
        raise ClauseFailure(f"moving the module to {case.dtype} on {subject.conditions.device} raised "
                            f"{type(err).__name__}: {err}", cause="construct:cast") from err
    if subject.conditions.deployed:
        from .runtimes import remember

        remember(module, subject.block.name, case.kwargs, subject.variant)
    return module


def call(subject: Subject, module, x, what: str = "forward"):
    """Run forward (under the run's autocast, if any; through the runtime's artifact, if deployed);
    check it returned a finite tensor of x's shape without touching torch's global state or random
    generator."""
    before = _global_state()
    rng = torch.random.get_rng_state()
    precision = subject.conditions.precision
    autocast = (torch.autocast(subject.conditions.device_type, dtype=precision.autocast_dtype)
                if precision.autocast else contextlib.nullcontext())
    forward = module
    if subject.conditions.deployed:
        from .runtimes import deployed

        runtime = subject.conditions.runtime
        forward = functools.partial(deployed(runtime.name, runtime.trace), module)
        what = f"{what} ({runtime.name})"
    try:
        with autocast:
            out = forward(x)
    except ClauseFailure:
        raise
    except Exception as err:
        raise ClauseFailure(f"{what} raised {type(err).__name__}: {err}", cause=f"forward:{type(err).__name__}") from err
    _check_state(before, what)
    if not torch.equal(rng, torch.random.get_rng_state()):
        raise ClauseFailure(f"{what} used or reseeded torch's global random generator (the blocks are deterministic)",
                            cause="global random generator")
    if not isinstance(out, torch.Tensor):
        raise ClauseFailure(f"{what} returned {type(out).__name__}, not a torch.Tensor", cause="forward:type")
    if out.shape != x.shape:
        raise ClauseFailure(f"{what} returned shape {list(out.shape)}, expected the input's {list(x.shape)}", cause="forward:shape")
    if out.is_floating_point() and x.isfinite().all() and not out.isfinite().all():
        bad = (~out.isfinite()).sum().item()
        raise ClauseFailure(f"{what} returned {bad} non-finite values (NaN or inf) for a finite input", cause="forward:non-finite")
    return out


def call_with_params(subject: Subject, module, params: Mapping[str, Any], x, what: str = "forward"):
    """``call`` with the module's parameters replaced by ``params`` (functionally: gradients reach them)."""
    from torch.func import functional_call

    return functional_call(_calling_module()(subject, module, what), {f"module.{k}": v for k, v in params.items()}, (x,))


@functools.lru_cache(maxsize=1)
def _calling_module() -> type:
    """An nn.Module whose forward is ``call`` of the module it holds (made on first use: torch loads then)."""

    class Calling(torch.nn.Module):
        def __init__(self, subject: Subject, module, what: str):
            super().__init__()
            self.subject, self.module, self.what = subject, module, what

        def forward(self, x):
            return call(self.subject, self.module, x, self.what)

    return Calling


# ---------------------------------------------------------------- inputs
def input_values(case: Case) -> "torch.Tensor":
    """The case's input values in float64, exactly as the case's dtype holds them (on the CPU)."""
    generator = torch.Generator().manual_seed(case.seed)
    values = torch.randn(case.input_shape, generator=generator, dtype=torch.float64)
    if case.values == "sparse":
        values = values.clamp_min(0)
    elif case.values == "quantized":
        values = (values * 2).round() / 2
    values = values * case.input_scale
    return values.to(getattr(torch, case.dtype)).to(torch.float64)


def make_input(subject: Subject, case: Case, values=None) -> "torch.Tensor":
    """The case's input (or ``values``) in its dtype and memory layout, on the run's device."""
    values = input_values(case) if values is None else values
    return lay_out(values.to(getattr(torch, case.dtype)), case.memory_format, subject.conditions.device)


def lay_out(values, layout: str, device=None):
    """The same values in a contiguous, channels_last, or strided (non-contiguous) tensor on ``device``."""
    device = device or values.device
    if layout == "channels_last":
        return values.to(device).contiguous(memory_format=torch.channels_last)
    if layout == "noncontiguous":
        # Every other row of a wider buffer: H and W cannot be merged, so x.view(b, c, -1) fails
        # here just as it does on many real feature maps (crops, slices, transposes).
        b, c, h, w = values.shape
        storage = torch.zeros((b, c, 2 * h, w + 1), dtype=values.dtype, device=device)
        storage[:, :, ::2, :w] = values.to(device)
        return storage[:, :, ::2, :w]
    return values.to(device).contiguous()


# ---------------------------------------------------------------- weight transfer (the plug-in contract)
def _kind(name: str) -> str:
    """A parameter is a bias or not, by the last part of its name (what a loader would map it by)."""
    return "bias" if name.rsplit(".", 1)[-1] == "bias" else "weight"


def describe_mapping(pairs) -> str:
    return ", ".join(f"{canonical} -> {param}" for canonical, param in pairs)


def transfer(subject: Subject, module, state: Mapping[str, Any]) -> str:
    """Load canonical tensors into the module: its load_<block> hook, else registration order.

    Returns how they were mapped (for failure messages); a mapping that does not fit raises a
    ClauseFailure caused by ``weights.transfer``. A load hook gets the tensors on the module's
    device and in its dtype, so it may assign them as they are.
    """
    first = next(module.parameters(), None)
    state = {k: v.to(first.device, first.dtype) if first is not None else v for k, v in state.items()}
    loader = subject.adapter.loaders.get(subject.block.name)
    if loader is not None:
        try:
            with torch.no_grad():
                loader(module, dict(state))
        except Exception as err:
            raise ClauseFailure(f"load_{subject.block.name}(module, state) raised {type(err).__name__}: {err}",
                                cause="weights.transfer") from err
        return f"by load_{subject.block.name}"
    params = list(module.named_parameters())
    canonical = list(state.items())
    counts = [p.numel() for _, p in params]
    wanted = [t.numel() for _, t in canonical]
    pairs = [(c, p) for (c, _), (p, _) in zip(canonical, params)]
    crossed = [(c, p) for c, p in pairs if _kind(c) != _kind(p)] if counts == wanted else []
    if counts != wanted or crossed:
        if crossed:
            problem = "it would map " + describe_mapping(crossed) + " (a weight onto a bias or the reverse)"
        else:
            problem = f"element counts {counts}, expected {wanted}"
        hint = (f"define load_{subject.block.name}(module, state) in the adapter to map them"
                if sorted(counts) == sorted(wanted) else "the module's parameters differ from the spec's weights")
        raise ClauseFailure(
            f"cannot transfer the canonical weights {[(n, list(t.shape)) for n, t in canonical]} onto the module's "
            f"parameters {[(n, list(p.shape)) for n, p in params]} in registration order ({problem}): {hint}",
            cause="weights.transfer",
        )
    with torch.no_grad():
        for (_, param), (_, tensor) in zip(params, canonical):
            param.copy_(tensor.reshape(param.shape))
    return "in registration order: " + describe_mapping(pairs)


def transferred_grads(subject: Subject, module, canonical_grads: Mapping[str, Any]) -> dict[str, Any]:
    """The module-parameter gradients implied by the canonical ones: the transfer is a linear copy,
    so loading gradients the way weights are loaded gives what each parameter's gradient must be."""
    with torch.no_grad():
        for param in module.parameters():
            param.fill_(math.nan)
    transfer(subject, module, canonical_grads)
    expected = {name: p.detach().to("cpu", torch.float64).clone() for name, p in module.named_parameters()}
    untouched = [name for name, t in expected.items() if t.isnan().any()]
    if untouched:
        raise ClauseFailure(f"parameters {untouched} are not set by the weight transfer, so the module has weights the spec does not",
                            cause="weights.transfer")
    return expected


def oracle_weights(subject: Subject, case: Case) -> dict[str, Any]:
    """Random canonical weights (times the case's weight scale), as the module's dtype holds them, in float64."""
    generator = torch.Generator().manual_seed(case.module_seed + 1)
    weights = oracle.random_weights(subject.block, subject.env(case), generator, case.weight_scale)
    held = getattr(torch, case.dtype)
    return {name: w.to(held).to(torch.float64) for name, w in weights.items()}


def expected_output(subject: Subject, case: Case, weights, training: bool = False, values=None,
                    smooth: float | None = None) -> Bounded:
    """The oracle's output with an error bound for this implementation's dtype and precision.

    Raises ``Unjudgeable`` when a value leaves the dtype's range, or (``smooth``: the relative
    margin a gradient check needs) when the case lies at a kink or a tie.
    """
    values = input_values(case) if values is None else values
    accuracy = subject.conditions.runtime.accuracy
    with numeric.tracking(subject.conditions.precision, smooth or 0.0, accuracy.get("sigmoid", 0.0)) as tracker, _oracle_errors():
        expected = oracle.bounded_forward(subject.spec, subject.block, subject.env(case), weights, values,
                                          getattr(torch, case.dtype), training)
    if tracker.overflow:
        raise Unjudgeable(tracker.overflow)
    if smooth is not None and not tracker.differentiable:
        raise Unjudgeable(f"not differentiable here: {tracker.kink_where}")
    return expected


def oracle_output(subject: Subject, case: Case, weights, x, training: bool = False):
    """The oracle on plain float64 tensors (autograd flows through it)."""
    with _oracle_errors():
        return oracle.forward(subject.spec, subject.block, subject.env(case), weights, x, training)


@contextlib.contextmanager
def _oracle_errors() -> Iterator[None]:
    """An exception inside the oracle is attncert's bug, never the implementation's failure."""
    try:
        yield
    except (Unjudgeable, ClauseFailure):
        raise
    except Exception as err:
        raise ClauseFailure(f"attncert's own oracle failed on this case (a bug in attncert, not in the "
                            f"implementation; please report it): {type(err).__name__}: {err}", cause="attncert") from err


# ---------------------------------------------------------------- comparisons
def assert_matches(found, expected: Bounded, what: str, spread: float = 1.0, note: str = "") -> None:
    """Every element of ``found`` within SAFETY * spread * its error bound of the oracle's value."""
    result = numeric.compare(found, expected, spread)
    if not result.ok:
        raise ClauseFailure(_mismatch(what, result.index, result.found, result.expected, result.allowed, result.ratio, note))


def _mismatch(what: str, index, found: float, expected: float, allowed: float, ratio: float, note: str) -> str:
    """One element found where another was expected: with as many digits as it takes to tell them
    apart, and their difference."""
    digits = next((d for d in range(6, 18) if f"{found:.{d}g}" != f"{expected:.{d}g}"), 17)
    return (f"{what}: at index {list(index)} found {found:.{digits}g}, expected {expected:.{digits}g} (difference "
            f"{abs(found - expected):.3g}, allowed {allowed:.3g}, exceeded {ratio:.3g} times)" + (f"; weights {note}" if note else ""))


def tolerance(n: float, dtype, scale: float) -> float:
    """A budget where no oracle bound is known: n accumulated roundings of values of size ``scale``."""
    return GRADIENT_SAFETY * max(n, 1.0) * torch.finfo(dtype).eps * scale + torch.finfo(dtype).tiny


def gradient_tolerance(expected, moved, n: float, dtype, scale: float) -> float:
    """How far a gradient computed in ``dtype`` may lie from the oracle's ``expected`` one.

    n roundings of values of size ``scale`` (the largest of all the block's gradients: a gradient
    that cancels to nearly zero still carries the rounding of the terms it cancelled), plus what
    rounding-sized changes become through the block's conditioning: ``moved`` is the same gradient
    at inputs and weights nudged by a relative ``PERTURBATION``, so |moved - expected| /
    PERTURBATION x eps is the change a rounding of every input may cause. A BatchNorm over nearly
    equal values or saturated gates are then judged at the precision they allow.
    """
    eps = torch.finfo(dtype).eps
    carried = (moved - expected).abs().max().item() / PERTURBATION if expected.numel() else 0.0
    return GRADIENT_SAFETY * (max(n, 1.0) * eps * scale + eps * carried) + torch.finfo(dtype).tiny


PERTURBATION = 1e-10  # the relative nudge that measures a gradient's conditioning (smaller than the kink margin)


def assert_within(found, expected, allowed, what: str, note: str = "") -> None:
    """Every element of ``found`` within ``allowed`` (a number, or a tensor per element) of ``expected``."""
    found = found.detach().to("cpu", torch.float64)
    expected = expected.detach().to("cpu", torch.float64)
    if found.shape != expected.shape:
        raise ClauseFailure(f"{what}: shape {list(found.shape)}, expected {list(expected.shape)}")
    allowed = torch.as_tensor(allowed, dtype=torch.float64).expand_as(expected)
    excess = ((found - expected).abs() / allowed).nan_to_num(math.inf)
    if excess.numel() and not excess.max().item() <= 1:
        index = numeric.unravel(int(excess.argmax()), excess.shape)
        raise ClauseFailure(_mismatch(what, index, found[index].item(), expected[index].item(), allowed[index].item(),
                                      excess[index].item(), note))


def assert_close(found, expected, n: float, dtype, what: str, note: str = "") -> None:
    """Where no oracle is at hand: within the n-rounding budget of the largest expected value."""
    scale = expected.detach().abs().max().item() if expected.numel() else 0.0
    assert_within(found, expected, tolerance(n, dtype, scale), what, note)
