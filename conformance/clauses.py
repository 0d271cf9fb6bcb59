"""The clauses: one small function per property, run over every block the spec declares.

A clause takes the ``Subject`` (spec block + implementation + variant + conditions) and one ``Case``
and raises ``ClauseFailure`` when its property does not hold (``Unjudgeable`` when the case cannot
judge it: another is drawn). Its docstring is its explanation (``attncert explain``): the statement,
then ``Source:``, ``Causes:`` and ``Fix:`` paragraphs. Invariant clauses apply where the spec lists
the invariant for the block, unless its ``unless`` formula holds under the declared variant.

Numbers are compared with the oracle's error bounds (``conformance/numeric.py``), element by
element: a clause that compares the implementation with itself (layouts, permutations, batches,
modes, devices) loads the oracle's weights so that the bound of its case is known, and allows twice
it. Gradients are compared where the block is differentiable: the oracle reports how close the
case lies to a ReLU kink or a tie in a max, and a case too close is redrawn.

This module imports torch lazily: the parent process reads the catalogue without loading it.
"""

from __future__ import annotations

import inspect
from copy import deepcopy
from dataclasses import dataclass, replace
from typing import Callable

from .cases import Case, DTYPES, LAYOUTS, REDUCED_DTYPES, VALUES
from .lazy import lazy_torch
from .numeric import Bounded
from .spec import EAGER
from .subject import (
    PERTURBATION,
    ClauseFailure,
    Conditions,
    Unjudgeable,
    Subject,
    assert_close,
    assert_matches,
    assert_within,
    gradient_tolerance,
    build,
    call,
    call_with_params,
    expected_output,
    input_values,
    lay_out,
    make_input,
    oracle_output,
    tolerance,
    oracle_weights,
    transfer,
    transferred_grads,
)

torch = lazy_torch()

SMOOTH_FOR_ORACLE = 1e-9  # analytic vs analytic: only a case within rounding of a kink is ambiguous
SMOOTH_FOR_FINITE_DIFFERENCES = 1e-3  # a finite-difference step of 1e-6 must not reach the kink


@dataclass(frozen=True)
class Clause:
    id: str
    check: Callable[[Subject, Case], None]
    invariant: str | None = None  # the spec invariant this clause implements
    dtypes: tuple[str, ...] = DTYPES + REDUCED_DTYPES  # reduced ones only under a reduced-precision profile
    layouts: tuple[str, ...] = LAYOUTS
    values: tuple[str, ...] = VALUES
    scaled: bool = True  # draw the input's and the weights' magnitudes (else both 1)
    max_numel: int | None = None  # tighter size cap for expensive clauses
    max_channels: int | None = None
    min_batch: int = 1
    needs_cuda: bool = False
    needs_stages: bool = False
    needs_weights: bool = False
    deployed: bool = True  # runs forward (through the runtime's artifact); False: judges the module as built

    def runtime(self, subject: Subject):
        """The runtime this clause's forward runs under: the run's, or eager for a clause on the module as built."""
        return subject.conditions.runtime if self.deployed else EAGER

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.check) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n")[0].replace("\n", " ")

    def skip_reason(self, subject: Subject) -> str | None:
        """Why this clause does not apply to the subject (a skip, never a pass), or None."""
        runtime = subject.conditions.runtime
        if self.id in runtime.skip:
            return f"does not apply under --runtime {runtime.name}: {runtime.skip[self.id]}"
        if self.invariant is not None:
            use = subject.block.invariant(self.invariant)
            if use is not None and use.unless is not None:
                env = subject.block.env(subject.block.sample_setting(), subject.variant)
                if use.unless.evaluate(env):
                    return f"not required under the declared variant ({use.unless} holds)"
        if self.needs_stages:
            missing = [s for s in subject.block.stages if subject.spec.block(s).factory not in subject.adapter.factories]
            if missing:
                return f"the implementation provides no {', '.join(missing)} to compose"
        if self.needs_cuda and not torch.cuda.is_available():
            return "CUDA is not available on this machine"
        return None

    def applies_to(self, block_name: str, spec) -> bool:
        """Whether the spec declares this clause for the block at all (for listing, planning, counting)."""
        block = spec.block(block_name)
        if self.invariant is not None:
            return block.invariant(self.invariant) is not None
        if self.needs_weights and not block.weights:
            return False
        return not self.needs_stages or bool(block.stages)


CLAUSES: dict[str, Clause] = {}


def clause(clause_id: str, **options) -> Callable:
    def register(check: Callable[[Subject, Case], None]) -> Callable[[Subject, Case], None]:
        CLAUSES[clause_id] = Clause(clause_id, check, **options)
        return check

    return register


# ---------------------------------------------------------------- shared steps
def _scaled_module(subject: Subject, case: Case):
    """The module with its own initial weights times the case's weight scale (no oracle needed)."""
    module = build(subject, case)
    if case.weight_scale != 1.0:
        with torch.no_grad():
            for p in module.parameters():
                p.mul_(case.weight_scale)
    return module


def _loaded_module(subject: Subject, case: Case, training: bool = False):
    """A module holding the oracle's canonical weights, its mode set; and how they were mapped."""
    weights = oracle_weights(subject, case)
    module = build(subject, case)
    note = transfer(subject, module, weights)
    module.train(training)
    return module, weights, note


def _comparable(subject: Subject, case: Case, training: bool = False, bound_for: Subject | None = None):
    """A module to compare with itself, the oracle's error bound for its output (computed for
    ``bound_for``'s precision when given), and the canonical weights it holds.

    With the oracle's weights where they load (a bound per element, any weight scale); else with
    its own initial weights and no bound (the spec's error budget then applies): a block whose
    weights differ from the spec's still gets these properties judged, not blamed on the weights.
    """
    try:
        module, weights, _ = _loaded_module(subject, case, training)
    except ClauseFailure as err:
        if err.cause != "weights.transfer":
            raise
        module = build(subject, case)
        module.train(training)
        return module, None, None
    return module, expected_output(bound_for or subject, case, weights, training), weights


def _assert_agree(subject: Subject, case: Case, found, reference, bound: Bounded | None, what: str, permute=None) -> None:
    """Two outputs of the implementation agree: within twice the oracle's bound of each element,
    or (without one) twice the spec's error budget relative to the largest value."""
    permute = permute or (lambda t: t)
    reference = permute(reference.detach().to("cpu", torch.float64))
    if bound is None:
        n = 2 * subject.block.budget(subject.env(case), case.input_shape)
        assert_close(found, reference, n, getattr(torch, case.dtype), what)
    else:
        assert_matches(found, Bounded(reference, permute(bound.e), bound.dtype), what, spread=2)


def _modes(subject: Subject) -> tuple[bool, ...]:
    """The modes to check, eval first (training = False, True): eval only where the runtime's
    artifact has no train mode (ONNX runs the inference graph)."""
    return (False, True) if subject.conditions.runtime.keeps_train_mode else (False,)


def _cotangent(case: Case):
    return torch.randn(case.input_shape, generator=torch.Generator().manual_seed(case.seed + 2), dtype=torch.float64)


def _oracle_gradients(subject: Subject, case: Case, weights, values, training: bool) -> dict:
    """The oracle's gradients of sum(out * cotangent): ``input`` and each canonical weight's."""
    leaves = {name: w.clone().requires_grad_(True) for name, w in weights.items()}
    x = values.clone().requires_grad_(True)
    (oracle_output(subject, case, leaves, x, training) * _cotangent(case)).sum().backward()
    grads = {"input": x.grad}
    grads.update((name, leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)) for name, leaf in leaves.items())
    return grads


def _expected_gradients(subject: Subject, case: Case, weights, training: bool, dtype) -> dict:
    """name -> (the oracle's gradient, how far one computed in ``dtype`` may differ): see gradient_tolerance."""
    generator = torch.Generator().manual_seed(case.seed + 5)

    def nudged(t):
        return t * (1 + PERTURBATION * (torch.rand(t.shape, generator=generator, dtype=torch.float64) * 2 - 1))

    values = input_values(case)
    exact = _oracle_gradients(subject, case, weights, values, training)
    moved = _oracle_gradients(subject, case, {k: nudged(w) for k, w in weights.items()}, nudged(values), training)
    n = _gradient_budget(subject, case)
    scale = max(grad.abs().max().item() if grad.numel() else 0.0 for grad in exact.values())
    return {name: (grad, gradient_tolerance(grad, moved[name], n, dtype, scale)) for name, grad in exact.items()}


def _gradient_budget(subject: Subject, case: Case) -> float:
    """The n of the gradient budget: the spec's error_budget for this input, plus its size."""
    return subject.block.budget(subject.env(case), case.input_shape) + torch.Size(case.input_shape).numel()


def _gradients(subject: Subject, module, x, cotangent, what: str):
    """d(sum(out * cotangent)) / d(input) and / d(each parameter), on the CPU in float64."""
    x = x.detach().requires_grad_(True)
    out = call(subject, module, x, what)
    if not out.requires_grad:
        raise ClauseFailure(f"{what}: the output does not depend on anything differentiable (detached?)")
    (out * cotangent.to(out.device, out.dtype)).sum().backward()
    if x.grad is None:
        raise ClauseFailure(f"{what}: no gradient reached the input (is the output detached from it?)")
    params = {}
    for name, param in module.named_parameters():
        if param.grad is None:
            raise ClauseFailure(f"{what}: parameter {name} received no gradient")
        params[name] = param.grad.detach().to("cpu", torch.float64)
    return x.grad.detach().to("cpu", torch.float64), params


# ---------------------------------------------------------------- construction and bookkeeping
@clause("construct", scaled=False, deployed=False)
def check_construct(subject: Subject, case: Case) -> None:
    """The factory accepts every valid combination of the spec's keywords and returns an nn.Module.

    Source: the plug-in contract (README: factories take the spec's keywords); the spec's parameter
    ranges and domain rules.
    Causes: a kernel or width that is invalid for some channel counts (ECA's even or zero kernel);
    asserts on "nice" sizes (C divisible by ratio); missing keywords (gama instead of gamma).
    Fix: accept the contract's keywords and make the constructor valid over the whole domain.
    """
    build(subject, case)


@clause("shape.preserved")
def check_shape_preserved(subject: Subject, case: Case) -> None:
    """The output has the input's shape [B, C, H, W] for every size the spec allows.

    Source: documents §1.1 (3), §2.1 (4), §3.4: the weighted feature map keeps [b, c, h, w].
    Causes: squeezing away size-1 dimensions, .view() with hard-coded sizes, padding that changes
    the length of the channel sequence (an even ECA kernel with padding k // 2 gives C + 1).
    Fix: broadcast the gate with [:, :, None, None]; use an odd kernel with padding k // 2.
    """
    call(subject, _scaled_module(subject, case), make_input(subject, case))


@clause("dtype.preserved")
def check_dtype_preserved(subject: Subject, case: Case) -> None:
    """The output has the input's dtype (under --autocast: the dtype autocast's casting rules give).

    Source: the plug-in contract (forward maps a tensor to one of the same shape, dtype and device); under
    autocast, the gated product x * gate promotes to the wider of the two dtypes.
    Causes: .float() or torch.tensor(...) constants created in float32; explicit casts.
    Fix: create constants with dtype=x.dtype, or avoid them.
    """
    out = call(subject, _scaled_module(subject, case), make_input(subject, case))
    wanted = getattr(torch, case.dtype)
    if subject.conditions.precision.autocast:
        wanted = expected_output(subject, case, oracle_weights(subject, case)).dtype
    if out.dtype != wanted:
        raise ClauseFailure(f"output dtype {out.dtype}, expected {wanted}"
                            + (" (autocast's rules)" if subject.conditions.precision.autocast else " (the input's)"))


@clause("device.preserved", scaled=False)
def check_device_preserved(subject: Subject, case: Case) -> None:
    """The output lives on the input's device.

    Source: the plug-in contract (forward keeps the input's shape, dtype and device).
    Causes: tensors created without device=x.device (e.g. torch.zeros(n) in forward), .cpu()/.cuda() calls.
    Fix: create every tensor on x.device.
    """
    x = make_input(subject, case)
    out = call(subject, build(subject, case), x)
    if out.device != x.device:
        raise ClauseFailure(f"output on {out.device}, input on {x.device}")


@clause("params.count", layouts=("contiguous",), dtypes=("float64",), values=("normal",), scaled=False, deployed=False)
def check_params_count(subject: Subject, case: Case) -> None:
    """The module has exactly the number of trainable parameters the spec's formula gives.

    Source: the spec's param_count (documents' torchstat tables: SE 512, ECA 3, CBAM 610 at C=32).
    Causes: biases (bias=True is PyTorch's default), a second MLP for the max branch, hidden width
    rounded up, a wrong ECA kernel size, BatchNorm.
    Fix: bias=False in every layer; one shared MLP; hidden = C // ratio; the odd ECA kernel.
    """
    module = build(subject, case)
    found = sum(p.numel() for p in module.parameters())
    expected = subject.block.expected_param_count(subject.env(case))
    if found != expected:
        shapes = {n: list(p.shape) for n, p in module.named_parameters()}
        raise ClauseFailure(f"{found} parameters {shapes}, expected {expected} ({subject.block.param_count})")


@clause("weights.transfer", layouts=("contiguous",), dtypes=("float64",), values=("normal",), scaled=False,
        needs_weights=True, deployed=False)
def check_weights_transfer(subject: Subject, case: Case) -> None:
    """The spec's canonical weights can be loaded into the module (load_<block> or registration order).

    Source: the plug-in contract's weight transfer (README: load_<block>, else registration order).
    Causes: parameters of other shapes than the canonical ones (extra layers, other widths), or a
    different registration order with equal element counts but no load_<block> hook; never maps
    a weight onto a bias or the reverse.
    Fix: match the canonical shapes, or define load_<block>(module, state) mapping canonical names.
    """
    _loaded_module(subject, case)


# ---------------------------------------------------------------- equivalence with the oracle
@clause("oracle.output")
def check_oracle_output(subject: Subject, case: Case) -> None:
    """With the oracle's weights, every output element equals the float64 oracle's within its error bound.

    Source: documents §1-3 (the blocks' definitions); the spec's oracle recipe. The bound follows
    the case's dtype and precision: tight where the computation is well conditioned.
    Causes: avg instead of max pooling (or both swapped), missing ReLU, softmax instead of sigmoid,
    a clamped or rescaled gate, wrong pool order, wrong padding, CBAM stages in the wrong order,
    computing in lower precision.
    Fix: compare your forward step by step with the documents' block.
    """
    for training in _modes(subject):  # eval first: a train-mode pass updates running statistics
        module, weights, note = _loaded_module(subject, case, training)
        mode = "train" if training else "eval"
        expected = expected_output(subject, case, weights, training)
        found = call(subject, module, make_input(subject, case))
        assert_matches(found, expected, f"output ({case.dtype}, {mode} mode)", note=note)


@clause("oracle.input_grad", dtypes=("float64",), values=("normal",))
def check_oracle_input_grad(subject: Subject, case: Case) -> None:
    """The gradient with respect to the input equals the oracle's (float64, random output cotangent).

    Source: the blocks are differentiable functions of their input; training relies on this gradient.
    Causes: .detach() or .data on the gate, torch.no_grad() around part of forward, a custom
    autograd.Function with a wrong backward, in-place ops that break autograd.
    Fix: keep the whole forward differentiable; gradcheck any custom backward.
    """
    module, weights, note = _loaded_module(subject, case, training=True)
    expected_output(subject, case, weights, True, smooth=SMOOTH_FOR_ORACLE)
    found, _ = _gradients(subject, module, make_input(subject, case), _cotangent(case), "forward")
    expected, allowed = _expected_gradients(subject, case, weights, True, torch.float64)["input"]
    assert_within(found, expected, allowed, "input gradient", note)


@clause("oracle.param_grad", dtypes=("float64",), values=("normal",), needs_weights=True)
def check_oracle_param_grad(subject: Subject, case: Case) -> None:
    """Each parameter's gradient equals the oracle's gradient of the matching canonical weight.

    Source: the blocks' weights are trained by backpropagation through the documents' forward.
    Causes: a parameter used under torch.no_grad() or detached, a wrong custom backward, a
    parameter that is not used at all, weights shared or split differently from the spec.
    Fix: use every parameter in the differentiable forward exactly as the documents do.
    """
    module, weights, note = _loaded_module(subject, case, training=True)
    expected_output(subject, case, weights, True, smooth=SMOOTH_FOR_ORACLE)
    _, found = _gradients(subject, module, make_input(subject, case), _cotangent(case), "forward")
    grads = _expected_gradients(subject, case, weights, True, torch.float64)
    grads.pop("input")
    # the transfer is a linear copy: loading the canonical gradients (and their tolerances) the way
    # the weights were loaded gives each parameter's expected gradient (and tolerance)
    expected = transferred_grads(subject, build(subject, case), {k: g for k, (g, _) in grads.items()})
    allowed = transferred_grads(subject, build(subject, case), {k: torch.full_like(g, a) for k, (g, a) in grads.items()})
    for name, grad in found.items():
        assert_within(grad, expected[name], allowed[name], f"gradient of {name}", note)


def _finite_differences(subject: Subject, case: Case, second_order: bool) -> None:
    """torch's (grad)gradcheck of the module's forward, with the oracle's weights, at a smooth point."""
    module, weights, _ = _loaded_module(subject, case)
    expected_output(subject, case, weights, smooth=SMOOTH_FOR_FINITE_DIFFERENCES)
    names = [n for n, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())
    x = make_input(subject, case).requires_grad_(True)

    def function(inp, *weights):
        return call_with_params(subject, module, dict(zip(names, weights)), inp)

    checker = torch.autograd.gradgradcheck if second_order else torch.autograd.gradcheck
    try:
        checker(function, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=True, fast_mode=True)
    except ClauseFailure:
        raise
    except Exception as err:
        message = str(err).strip().splitlines()
        raise ClauseFailure(f"{checker.__name__}: {' '.join(message[:3])[:400]}") from err


@clause("gradcheck", dtypes=("float64",), values=("normal",), scaled=False, max_numel=64, max_channels=32)
def check_gradcheck(subject: Subject, case: Case) -> None:
    """Analytic gradients (input and parameters) match finite differences on small float64 inputs,
    at points where the block is differentiable (no ReLU input or max tie within reach of the step).

    Source: torch.autograd.gradcheck; the blocks are smooth away from ReLU kinks and ties in a max.
    Causes: a custom autograd.Function with a wrong backward, detached parts of the graph.
    Fix: drop the custom backward, or derive it again and test it with gradcheck.
    """
    _finite_differences(subject, case, second_order=False)


@clause("gradgradcheck", dtypes=("float64",), values=("normal",), scaled=False, max_numel=32, max_channels=16)
def check_gradgradcheck(subject: Subject, case: Case) -> None:
    """Second derivatives match finite differences of the first (needed by gradient penalties,
    meta-learning), at points where the block is differentiable.

    Source: torch.autograd.gradgradcheck.
    Causes: a custom backward that is not itself differentiable (uses .detach() or numpy).
    Fix: write the backward with differentiable torch ops, or use once_differentiable honestly.
    """
    _finite_differences(subject, case, second_order=True)


# ---------------------------------------------------------------- behaviour
@clause("deterministic")
def check_deterministic(subject: Subject, case: Case) -> None:
    """Two calls on the same input give bit-identical outputs (in train and in eval mode).

    Source: the documents' blocks contain no randomness.
    Causes: dropout, random noise, stochastic depth, nondeterministic atomics (on GPU).
    Fix: remove the randomness; the blocks are deterministic functions.
    """
    module = _scaled_module(subject, case)
    x = make_input(subject, case)
    for training in reversed(_modes(subject)):
        module.train(training)
        first, second = call(subject, module, x), call(subject, module, x)
        if not torch.equal(first, second):
            diff = (first.double() - second.double()).abs().max().item()
            raise ClauseFailure(f"two calls in {'train' if training else 'eval'} mode differ by up to {diff:.3g}")


@clause("input.unmutated")
def check_input_unmutated(subject: Subject, case: Case) -> None:
    """Forward and backward leave the input tensor's values unchanged.

    Source: callers reuse their feature maps (skip connections); the blocks return a new tensor.
    Causes: in-place ops on the input (x.mul_(gate), x *= gate, torch.sigmoid_(x)).
    Fix: return x * gate, a new tensor.
    """
    x = make_input(subject, case)
    before = x.clone()
    if case.dtype == "float64":
        x.requires_grad_(True)
    elif case.dtype == "float32":
        # a tensor that needs gradients, as a feature map inside a network does (a frozen float32
        # input made torch 2.13's GroupNorm backward crash on a channels_last slice in a correct
        # Shuffle Attention); not a leaf, so that an in-place op on it is seen here, not refused
        x = lay_out(x.detach().contiguous().requires_grad_(True) * 1, case.memory_format)
    out = call(subject, _scaled_module(subject, case), x)
    if out.requires_grad:
        out.sum().backward()
    if not torch.equal(x.detach(), before):
        changed = (x.detach() != before).sum().item()
        raise ClauseFailure(f"the input was modified in place: {changed} of {x.numel()} elements changed")


@clause("layout.equivalent", layouts=("channels_last", "noncontiguous"))
def check_layout_equivalent(subject: Subject, case: Case) -> None:
    """channels_last and non-contiguous inputs give the same output as a contiguous input.

    Source: channels_last is PyTorch's fast layout for convolutional networks; crops, slices and
    transposes give strided feature maps; the blocks are defined on values, not on memory layout.
    Causes: x.view(...) on the input (fails or scrambles for non-contiguous strides), reshapes that
    assume NCHW strides, custom kernels that read raw storage.
    Fix: use reshape/flatten on pooled results, or make the input contiguous first.
    """
    module, bound, _ = _comparable(subject, case)
    x = make_input(subject, case)
    reference = call(subject, module, lay_out(x.detach().clone(), "contiguous"))
    _assert_agree(subject, case, call(subject, module, x), reference, bound, f"{case.memory_format} output vs contiguous output")


@clause("cuda.agreement", needs_cuda=True)
def check_cuda_agreement(subject: Subject, case: Case) -> None:
    """On a CUDA device the block gives the CPU's output, input gradient and parameter gradients,
    within their error bounds.

    Source: a block computes the same function on every device (checked wherever CUDA exists).
    Causes: device-specific code paths (a gate computed in half precision only on CUDA, another
    padding), tensors created on the CPU inside forward, a CUDA kernel with a wrong backward.
    Fix: one device-agnostic forward.
    """
    gpu = subject.conditions.device if subject.conditions.device_type == "cuda" else "cuda"
    cpu_subject = replace(subject, conditions=Conditions("cpu"))
    gpu_subject = replace(subject, conditions=Conditions(gpu, subject.conditions.precision))
    module, bound, weights = _comparable(cpu_subject, case, bound_for=gpu_subject)
    cotangent = _cotangent(case)
    results = []
    for side, on_device in ((cpu_subject, module), (gpu_subject, deepcopy(module).to(gpu))):
        x = make_input(side, case)
        out = call(side, on_device, x, f"forward on {side.conditions.device}")
        if out.device != x.device:
            raise ClauseFailure(f"output on {out.device} for an input on {x.device}")
        grads = None
        if case.dtype in ("float64", "float32") and out.requires_grad:
            grads = _gradients(side, on_device, x, cotangent, f"forward on {side.conditions.device}")
        results.append((out, grads))
    (cpu_out, cpu_grads), (gpu_out, gpu_grads) = results
    _assert_agree(subject, case, gpu_out, cpu_out, bound, "CUDA output vs CPU output")
    if cpu_grads is None or gpu_grads is None:
        return
    dtype = getattr(torch, case.dtype)
    if weights is None:  # no oracle for these weights: the spec's budget, twice (two computations)
        n = 2 * _gradient_budget(subject, case)
        tolerances = {name: tolerance(n, dtype, grad.abs().max().item()) for name, grad in [("input", cpu_grads[0]), *cpu_grads[1].items()]}
    else:  # each side within the oracle's conditioning-aware tolerance of the exact gradient
        canonical = _expected_gradients(subject, case, weights, False, dtype)
        per_param = transferred_grads(subject, build(cpu_subject, case),
                                      {k: torch.full_like(g, 2 * a) for k, (g, a) in canonical.items() if k != "input"})
        tolerances = {"input": 2 * canonical["input"][1], **per_param}
    assert_within(gpu_grads[0], cpu_grads[0], tolerances["input"], "CUDA input gradient vs CPU input gradient")
    for name, grad in cpu_grads[1].items():
        assert_within(gpu_grads[1][name], grad, tolerances[name], f"CUDA gradient of {name} vs CPU gradient")


# ---------------------------------------------------------------- invariants (spec data)
@clause("invariant.bounded", invariant="bounded")
def check_bounded(subject: Subject, case: Case) -> None:
    """Every output element keeps its input's sign and is no larger in magnitude (out = x * g, 0 <= g <= 1).

    Source: documents §1.1 (3) and §3.2-3.3: sigmoid weights between 0 and 1 multiply the input.
    Causes: a residual add (x + x * g), a gate that is not a sigmoid (tanh, softmax * C, no
    activation), scaling by a learned factor.
    Fix: gate = sigmoid(...); return x * gate.
    """
    x = make_input(subject, case)
    out = call(subject, _scaled_module(subject, case), x).detach().to("cpu", torch.float64)
    x = x.detach().to("cpu", torch.float64)
    slack = 4 * torch.finfo(getattr(torch, case.dtype)).eps * x.abs()
    bad = (out.abs() > x.abs() + slack) | ((out * x) < 0)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise ClauseFailure(f"at {list(index)} input {x[index].item():.6g} gave output {out[index].item():.6g}: not x * g with g in [0, 1]")


@clause("invariant.zero", invariant="zero", values=("normal",))
def check_zero(subject: Subject, case: Case) -> None:
    """An all-zero input gives an all-zero output.

    Source: the output is the input times a gate (documents §1.1 (3)).
    Causes: a bias added after gating, a residual of something other than the input, eps in a division.
    Fix: the last operation is x * gate.
    """
    x = make_input(subject, case, values=torch.zeros(case.input_shape, dtype=torch.float64))
    out = call(subject, _scaled_module(subject, case), x)
    if out.abs().max().item() != 0:
        raise ClauseFailure(f"zero input gave output with max |value| {out.abs().max().item():.6g}")


def _assert_equivariant(subject: Subject, case: Case, permute, what: str) -> None:
    """f(permute(x)) == permute(f(x)) within twice the oracle's bound (which permutes along)."""
    module, bound, _ = _comparable(subject, case)
    reference = call(subject, module, make_input(subject, case))
    permuted = call(subject, module, make_input(subject, case, values=permute(input_values(case))))
    _assert_agree(subject, case, permuted, reference, bound, what, permute)


@clause("invariant.spatial_permutation", invariant="spatial_permutation")
def check_spatial_permutation(subject: Subject, case: Case) -> None:
    """Permuting pixels permutes the output the same way: the channel gate is constant over space.

    Source: documents §1.1 (1): global pooling turns [h, w, c] into [1, 1, c].
    Causes: a local (windowed) pooling, pooling over one axis only, a positional term.
    Fix: pool over both H and W (mean((2, 3)) / amax((2, 3))).
    """
    b, c, h, w = case.input_shape
    perm = torch.randperm(h * w, generator=torch.Generator().manual_seed(case.seed + 3))
    _assert_equivariant(subject, case, lambda t: t.flatten(2)[:, :, perm].reshape(b, c, h, w),
                        "output of the spatially permuted input")


@clause("invariant.channel_permutation", invariant="channel_permutation")
def check_channel_permutation(subject: Subject, case: Case) -> None:
    """Permuting channels permutes the output the same way: the spatial gate is constant over channels.

    Source: documents §3.3: max and mean over the channel dimension.
    Causes: pooling over a subset of channels, per-channel weights in the spatial branch.
    Fix: reduce over dim=1 with keepdim=True, then convolve the two maps.
    """
    perm = torch.randperm(case.input_shape[1], generator=torch.Generator().manual_seed(case.seed + 3))
    _assert_equivariant(subject, case, lambda t: t[:, perm], "output of the channel-permuted input")


@clause("invariant.batch_independent", invariant="batch_independent", min_batch=2)
def check_batch_independent(subject: Subject, case: Case) -> None:
    """Each sample's output depends only on that sample: f(x)[i] == f(x[i:i+1]), in eval mode and,
    unless the spec says batch statistics are used, in train mode.

    Source: every operation in the documents is per sample.
    Causes: pooling or normalising over the batch dimension, BatchNorm in train mode, view() that
    mixes the batch and channel dimensions.
    Fix: reduce over (2, 3) or dim=1 only; reshape with the batch size first.
    """
    use = subject.block.invariant("batch_independent")
    modes = _modes(subject) if use.holds_in_train_mode(subject.env(case)) else (False,)
    values = input_values(case)
    single = (1, *case.input_shape[1:])
    for training in modes:
        why = subject.block.input_violation(subject.env(case), single, training)
        if why:  # e.g. a GroupNorm of one value per channel: the batch is valid, a sample alone is not
            raise Unjudgeable(f"a single sample {list(single)} is outside the input domain: {why}")
        module, bound, _ = _comparable(subject, case, training)
        whole = call(subject, module, make_input(subject, case))
        for i in range(case.input_shape[0]):
            alone = call(subject, module, lay_out(values[i : i + 1].to(getattr(torch, case.dtype)), case.memory_format,
                                                  subject.conditions.device))
            sample = (lambda t, i=i: t[i : i + 1])
            _assert_agree(subject, case, alone, whole, bound, f"sample {i} alone vs in a batch of {case.input_shape[0]} "
                          f"({'train' if training else 'eval'} mode)", sample)


@clause("invariant.train_eval", invariant="train_eval")
def check_train_eval(subject: Subject, case: Case) -> None:
    """Train mode and eval mode give the same output.

    Source: the documents' blocks have no dropout and no batch statistics.
    Causes: dropout, BatchNorm, branches on self.training.
    Fix: remove mode-dependent layers.
    """
    module, bound, _ = _comparable(subject, case, training=True)
    x = make_input(subject, case)
    in_train = call(subject, module, x)
    module.eval()
    _assert_agree(subject, case, call(subject, module, x), in_train, bound, "eval-mode vs train-mode output")


@clause("invariant.kernel_size", invariant="kernel_size", dtypes=("float64",), layouts=("contiguous",),
        values=("normal",), scaled=False)
def check_kernel_size(subject: Subject, case: Case) -> None:
    """The gate at position j depends on exactly the positions within size // 2 of j (ECA: channels,
    with the kernel k = odd(|(log2 C + b) / gamma|); spatial attention: pixels, k x k).

    Source: documents §2.1 (adaptive kernel; an even value becomes odd) and §3.3 (padding k // 2).
    Causes: the documents' own defect (the "make it odd" branch does nothing, so even kernels stay
    even), log instead of log2, rounding instead of truncating, b and gamma swapped, a fixed kernel.
    Fix: t = int(abs((math.log2(C) + b) / gamma)); k = t if t % 2 else t + 1; padding = k // 2.
    """
    use = subject.block.invariant("kernel_size")
    env = subject.env(case)
    size = int(use.args["size"].evaluate(env))
    wrap = bool(use.args["wrap"].evaluate(env))
    axis = use.args["axis"]
    module = build(subject, case)
    module.eval()
    # Positive weights of size ~1/numel: every tap in reach moves the gate visibly, and the
    # summed logits stay far from sigmoid's saturation.
    generator = torch.Generator().manual_seed(case.module_seed + 4)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_((torch.rand(p.shape, generator=generator, dtype=torch.float64) + 0.5) / p.numel())
    x = make_input(subject, case).detach()
    b, c, h, w = case.input_shape
    length = c if axis == "channel" else h
    source = int(torch.randint(length, (1,), generator=generator))
    bumped = x.clone()
    if axis == "channel":
        bumped[:, source] += 3.0
    else:
        bumped[:, :, source, min(source, w - 1)] += 3.0
    before = call(subject, module, x).detach().cpu()
    after = call(subject, module, bumped).detach().cpu()
    # which positions' gates changed, away from the perturbed position itself
    other_dims = (0, 2, 3) if axis == "channel" else (0, 1, 3)
    changed = (before - after).abs().amax(dim=other_dims) > 1e-12 * (1 + before.abs().max())
    positions = torch.arange(length)
    distance = (positions - source).abs()
    if wrap:
        distance = torch.minimum(distance, length - distance)
    expected = distance <= size // 2
    mismatch = changed != expected
    mismatch[source] = False
    if mismatch.any():
        reach = distance[changed].max().item() if changed.any() else 0
        what = "channels" if axis == "channel" else "rows"
        raise ClauseFailure(
            f"perturbing {what[:-1]} {source} of {length} changed the gate up to distance {reach}; "
            f"a kernel of size {size} reaches exactly {size // 2} (kernel looks like {2 * reach + 1} or larger/smaller)"
        )


@clause("invariant.composition", invariant="composition", needs_stages=True)
def check_composition(subject: Subject, case: Case) -> None:
    """The block equals its own stages applied in order (CBAM = spatial_attention(channel_attention(x))).

    Source: documents §3.4: channel attention first, then spatial attention on its output.
    Causes: stages in the wrong order, both gates computed from the original input (parallel
    instead of sequential), an extra residual or scaling.
    Fix: x = channel_attention(x); x = spatial_attention(x); return x.
    """
    whole, weights, _ = _loaded_module(subject, case)
    x = make_input(subject, case)
    staged = x
    for stage_name in subject.block.stages:
        stage = subject.for_block(stage_name)
        stage_case = case.with_(kwargs={p.name: case.kwargs[p.name] for p in stage.block.params})
        module = build(stage, stage_case)
        prefix = stage_name + "."
        transfer(stage, module, {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
        module.eval()
        staged = call(stage, module, staged, f"{stage_name} forward")
    if subject.block.oracle.evaluate_options(subject.env(case)).get("residual"):
        staged = x + staged
    _assert_agree(subject, case, call(subject, whole, x), staged, expected_output(subject, case, weights),
                  "block output vs its stages in order")


def clauses_for(block_name: str, spec) -> list[Clause]:
    """The clauses the spec declares for a block, in a stable order."""
    return [c for c in CLAUSES.values() if c.applies_to(block_name, spec)]
