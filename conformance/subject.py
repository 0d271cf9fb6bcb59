"""The implementation under test for one block, and the guarded ways clauses touch it.

Every call into user code goes through ``build`` or ``call``, which turn its misbehaviour (an
exception, a non-module, a non-tensor, NaN, a change of torch's global state) into a
``ClauseFailure`` with a one-line reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from . import oracle
from .cases import Case
from .spec import BlockSpec, Spec

SAFETY = 16  # slack on the error budget: accumulated roundings seldom exceed n * eps, never 16 n eps


class ClauseFailure(AssertionError):
    """A clause's property does not hold; the message says what was found and what was expected."""

    __tracebackhide__ = True


@dataclass
class Adapter:
    """A loaded plug-in: its factories, weight loaders and declared variants (DESIGN §2)."""

    label: str
    factories: Mapping[str, Callable[..., Any]]
    loaders: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class Subject:
    spec: Spec
    block: BlockSpec
    adapter: Adapter
    variant: Mapping[str, Any] = field(default_factory=dict)  # empty: the plain spec

    @property
    def factory(self) -> Callable[..., Any]:
        return self.adapter.factories[self.block.factory]

    def env(self, case: Case) -> dict[str, Any]:
        return self.block.env(case.kwargs, self.variant)

    def for_block(self, name: str) -> "Subject":
        """The same adapter and variant options, for another block (e.g. a CBAM stage)."""
        block = self.spec.block(name)
        known = {v.name for v in block.variants}
        return Subject(self.spec, block, self.adapter, {k: v for k, v in self.variant.items() if k in known})


# ---------------------------------------------------------------- torch global state
def _global_state() -> dict[str, Any]:
    return {
        "default dtype": torch.get_default_dtype(),
        "grad mode": torch.is_grad_enabled(),
        "number of threads": torch.get_num_threads(),
    }


def _check_state(before: Mapping[str, Any], what: str) -> None:
    after = _global_state()
    changed = [k for k in before if before[k] != after[k]]
    if changed:
        torch.set_default_dtype(before["default dtype"])
        torch.set_grad_enabled(before["grad mode"])
        torch.set_num_threads(before["number of threads"])
        k = changed[0]
        raise ClauseFailure(f"{what} changed torch's global {k} from {before[k]} to {after[k]}")


# ---------------------------------------------------------------- guarded calls
def build(subject: Subject, case: Case, dtype: torch.dtype | None = None) -> nn.Module:
    """Construct the module with exactly the spec's keywords, cast to the case's dtype."""
    before = _global_state()
    call_text = f"{subject.block.factory}({', '.join(f'{k}={v}' for k, v in case.kwargs.items())})"
    try:
        module = subject.factory(**case.kwargs)
    except ClauseFailure:
        raise
    except Exception as err:
        raise ClauseFailure(f"{call_text} raised {type(err).__name__}: {err}") from err
    _check_state(before, call_text)
    if not isinstance(module, nn.Module):
        raise ClauseFailure(f"{call_text} returned {type(module).__name__}, not a torch.nn.Module")
    try:
        return module.to(dtype or getattr(torch, case.dtype))
    except Exception as err:
        raise ClauseFailure(f"casting the module to {case.dtype} raised {type(err).__name__}: {err}") from err


def call(module: nn.Module, x: torch.Tensor, what: str = "forward") -> torch.Tensor:
    """Run forward and check it returned a finite tensor without touching torch's global state."""
    before = _global_state()
    rng = torch.random.get_rng_state()
    try:
        out = module(x)
    except ClauseFailure:
        raise
    except Exception as err:
        raise ClauseFailure(f"{what} raised {type(err).__name__}: {err}") from err
    _check_state(before, what)
    if not torch.equal(rng, torch.random.get_rng_state()):
        raise ClauseFailure(f"{what} used or reseeded torch's global random generator (the blocks are deterministic)")
    if not isinstance(out, torch.Tensor):
        raise ClauseFailure(f"{what} returned {type(out).__name__}, not a torch.Tensor")
    if out.shape != x.shape:
        raise ClauseFailure(f"{what} returned shape {list(out.shape)}, expected the input's {list(x.shape)}")
    if out.is_floating_point() and x.isfinite().all() and not out.isfinite().all():
        bad = (~out.isfinite()).sum().item()
        raise ClauseFailure(f"{what} returned {bad} non-finite values (NaN or inf) for a finite input")
    return out


def make_input(case: Case, requires_grad: bool = False, values: torch.Tensor | None = None) -> torch.Tensor:
    """The case's input: standard normal values from its seed, in its dtype and memory layout."""
    if values is None:
        generator = torch.Generator().manual_seed(case.seed)
        values = torch.randn(case.input_shape, generator=generator, dtype=torch.float64)
    values = values.to(getattr(torch, case.dtype))
    return lay_out(values, case.memory_format).requires_grad_(requires_grad)


def lay_out(values: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values in a contiguous, channels_last, or strided (non-contiguous) tensor."""
    if layout == "channels_last":
        return values.contiguous(memory_format=torch.channels_last)
    if layout == "noncontiguous":
        # Every other row of a wider buffer: H and W cannot be merged, so x.view(b, c, -1) fails
        # here just as it does on many real feature maps (crops, slices, transposes).
        b, c, h, w = values.shape
        storage = torch.zeros((b, c, 2 * h, w + 1), dtype=values.dtype)
        storage[:, :, ::2, :w] = values
        return storage[:, :, ::2, :w]
    return values.contiguous()


# ---------------------------------------------------------------- weight transfer (DESIGN §2)
def transfer(subject: Subject, module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load canonical tensors into the module: its load_<block> hook, else registration order."""
    loader = subject.adapter.loaders.get(subject.block.name)
    if loader is not None:
        try:
            with torch.no_grad():
                loader(module, dict(state))
        except Exception as err:
            raise ClauseFailure(f"load_{subject.block.name}(module, state) raised {type(err).__name__}: {err}") from err
        return
    params = list(module.parameters())
    canonical = list(state.items())
    counts = [p.numel() for p in params]
    wanted = [t.numel() for _, t in canonical]
    if counts != wanted:
        hint = (f"define load_{subject.block.name}(module, state) in the adapter to map them"
                if sorted(counts) == sorted(wanted) else "the module's parameters differ from the spec's weights")
        raise ClauseFailure(
            f"cannot transfer the canonical weights {[(n, list(t.shape)) for n, t in canonical]} onto the module's "
            f"parameters {[(n, list(p.shape)) for n, p in module.named_parameters()]} in registration order "
            f"(element counts {counts}, expected {wanted}): {hint}"
        )
    with torch.no_grad():
        for param, (_, tensor) in zip(params, canonical):
            param.copy_(tensor.reshape(param.shape))


def transferred_grads(subject: Subject, module: nn.Module, canonical_grads: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The module-parameter gradients implied by the canonical ones: the transfer is a linear copy,
    so loading gradients the way weights are loaded gives what each parameter's gradient must be."""
    with torch.no_grad():
        for param in module.parameters():
            param.fill_(math.nan)
    transfer(subject, module, canonical_grads)
    expected = {name: p.detach().clone() for name, p in module.named_parameters()}
    untouched = [name for name, t in expected.items() if t.isnan().any()]
    if untouched:
        raise ClauseFailure(f"parameters {untouched} are not set by the weight transfer, so the module has weights the spec does not")
    return expected


def oracle_weights(subject: Subject, case: Case) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(case.seed + 1)
    return oracle.random_weights(subject.block, subject.env(case), generator)


def oracle_output(subject: Subject, case: Case, weights, x: torch.Tensor, training: bool = False) -> torch.Tensor:
    return oracle.forward(subject.spec, subject.block, subject.env(case), weights, x, training)


# ---------------------------------------------------------------- comparisons
def tolerance(n: float, dtype: torch.dtype, scale: float) -> float:
    """Error budget: n accumulated roundings of relative size eps, on values of size ``scale``."""
    return SAFETY * max(n, 1.0) * torch.finfo(dtype).eps * (1.0 + scale)


def assert_close(found: torch.Tensor, expected: torch.Tensor, n: float, dtype: torch.dtype, what: str) -> None:
    found = found.detach().to(torch.float64)
    expected = expected.detach().to(torch.float64)
    if found.shape != expected.shape:
        raise ClauseFailure(f"{what}: shape {list(found.shape)}, expected {list(expected.shape)}")
    scale = expected.abs().max().item() if expected.numel() else 0.0
    tol = tolerance(n, dtype, scale)
    error = (found - expected).abs()
    worst = error.max().item() if error.numel() else 0.0
    if not worst <= tol:  # also catches NaN
        index = tuple(int(i) for i in divmod_index(int(error.nan_to_num(math.inf).argmax()), tuple(error.shape)))
        raise ClauseFailure(
            f"{what}: max |difference| {worst:.3g} > budget {tol:.3g} ({SAFETY} x n={n:g} x eps({str(dtype)[6:]}));"
            f" at index {list(index)} found {found[index].item():.17g}, expected {expected[index].item():.17g}"
        )


def divmod_index(flat: int, shape: tuple[int, ...]) -> list[int]:
    index = []
    for size in reversed(shape):
        flat, rem = divmod(flat, size)
        index.append(rem)
    return list(reversed(index))
