"""The clauses: one small function per property, run over every block the spec declares.

A clause takes the ``Subject`` (spec block + implementation + variant) and one ``Case`` and raises
``ClauseFailure`` when its property does not hold. Its docstring is its explanation (``attncert
explain``): the statement, then ``Source:``, ``Causes:`` and ``Fix:`` paragraphs. Invariant clauses
apply where the spec lists the invariant for the block, unless its ``unless`` formula holds under
the declared variant.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch

from .cases import Case, DTYPES, LAYOUTS
from .subject import (
    ClauseFailure,
    Subject,
    assert_close,
    build,
    call,
    lay_out,
    make_input,
    oracle_output,
    oracle_weights,
    transfer,
    transferred_grads,
)


@dataclass(frozen=True)
class Clause:
    id: str
    check: Callable[[Subject, Case], None]
    invariant: str | None = None  # the spec invariant this clause implements
    dtypes: tuple[str, ...] = DTYPES
    layouts: tuple[str, ...] = LAYOUTS
    max_numel: int | None = None  # tighter size cap for expensive clauses
    max_channels: int | None = None
    min_batch: int = 1
    needs_cuda: bool = False
    needs_stages: bool = False

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.check) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n")[0].replace("\n", " ")

    def skip_reason(self, subject: Subject) -> str | None:
        """Why this clause does not apply to the subject (a skip, never a pass), or None."""
        if self.needs_stages and not subject.block.stages:
            return "the block has no stages"
        if self.invariant is not None:
            use = subject.block.invariant(self.invariant)
            if use is None:
                return f"the spec does not list invariant {self.invariant!r} for {subject.block.name}"
            if use.unless is not None:
                env = subject.block.env(subject.block.defaults | _sample_channels(subject), subject.variant)
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
        """Whether the spec declares this clause for the block at all (for listing and counting)."""
        block = spec.block(block_name)
        if self.invariant is not None:
            return block.invariant(self.invariant) is not None
        return not self.needs_stages or bool(block.stages)


def _sample_channels(subject: Subject) -> dict[str, int]:
    return {"in_channel": 64} if any(p.name == "in_channel" for p in subject.block.params) else {}


CLAUSES: dict[str, Clause] = {}


def clause(clause_id: str, **options) -> Callable:
    def register(check: Callable[[Subject, Case], None]) -> Callable[[Subject, Case], None]:
        CLAUSES[clause_id] = Clause(clause_id, check, **options)
        return check

    return register


def _forward_pair(subject: Subject, case: Case):
    """A module with the oracle's weights, its input, and the oracle's float64 reference output."""
    weights = oracle_weights(subject, case)
    module = build(subject, case)
    transfer(subject, module, weights)
    x = make_input(case)
    expected = oracle_output(subject, case, weights, _reference_input(case))
    return module, x, weights, expected


def _reference_input(case: Case) -> torch.Tensor:
    """The case's input values in float64 and contiguous, as the oracle takes them."""
    return make_input(Case(case.kwargs, case.input_shape, "float64", "contiguous", case.seed))


def _budget(subject: Subject, case: Case) -> float:
    return subject.block.budget(subject.env(case), case.input_shape)


def _dtype(case: Case) -> torch.dtype:
    return getattr(torch, case.dtype)


# ---------------------------------------------------------------- construction and bookkeeping
@clause("construct")
def check_construct(subject: Subject, case: Case) -> None:
    """The factory accepts every valid combination of the spec's keywords and returns an nn.Module.

    Source: DESIGN §2 (factory signatures); the spec's parameter ranges and domain rules.
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
    call(build(subject, case), make_input(case))


@clause("dtype.preserved")
def check_dtype_preserved(subject: Subject, case: Case) -> None:
    """The output has the input's dtype (float32 in, float32 out; float64 in, float64 out).

    Source: DESIGN §2 (forward maps a tensor to one of the same shape, dtype and device).
    Causes: .float() or torch.tensor(...) constants created in float32; explicit casts.
    Fix: create constants with dtype=x.dtype, or avoid them.
    """
    out = call(build(subject, case), make_input(case))
    if out.dtype != _dtype(case):
        raise ClauseFailure(f"output dtype {out.dtype}, expected the input's {_dtype(case)}")


@clause("device.preserved")
def check_device_preserved(subject: Subject, case: Case) -> None:
    """The output lives on the input's device.

    Source: DESIGN §2.
    Causes: tensors created without device=x.device (e.g. torch.zeros(n) in forward), .cpu()/.cuda() calls.
    Fix: create every tensor on x.device.
    """
    x = make_input(case)
    out = call(build(subject, case), x)
    if out.device != x.device:
        raise ClauseFailure(f"output on {out.device}, input on {x.device}")


@clause("params.count", layouts=("contiguous",), dtypes=("float64",))
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


@clause("weights.transfer", layouts=("contiguous",), dtypes=("float64",))
def check_weights_transfer(subject: Subject, case: Case) -> None:
    """The spec's canonical weights can be loaded into the module (load_<block> or registration order).

    Source: DESIGN §2 (weight transfer).
    Causes: parameters of other shapes than the canonical ones (extra layers, other widths), or a
    different registration order with equal element counts but no load_<block> hook.
    Fix: match the canonical shapes, or define load_<block>(module, state) mapping canonical names.
    """
    transfer(subject, build(subject, case), oracle_weights(subject, case))


# ---------------------------------------------------------------- equivalence with the oracle
@clause("oracle.output")
def check_oracle_output(subject: Subject, case: Case) -> None:
    """With the oracle's weights, the output equals the float64 oracle's within the dtype's error budget.

    Source: documents §1-3 (the blocks' definitions); the spec's oracle recipe.
    Causes: avg instead of max pooling (or both swapped), missing ReLU, softmax instead of sigmoid,
    wrong pool order, wrong padding, CBAM stages in the wrong order, computing in lower precision.
    Fix: compare your forward step by step with the documents' block.
    """
    module, x, _, expected = _forward_pair(subject, case)
    module.eval()
    found = call(module, x)
    assert_close(found, expected, _budget(subject, case), _dtype(case), f"output ({case.dtype}, eval mode)")
    module.train()
    found = call(module, x)
    expected_train = oracle_output(subject, case, oracle_weights(subject, case), _reference_input(case), training=True)
    assert_close(found, expected_train, _budget(subject, case), _dtype(case), f"output ({case.dtype}, train mode)")


@clause("oracle.input_grad", dtypes=("float64",))
def check_oracle_input_grad(subject: Subject, case: Case) -> None:
    """The gradient with respect to the input equals the oracle's (float64, random output cotangent).

    Source: the blocks are differentiable functions of their input; training relies on this gradient.
    Causes: .detach() or .data on the gate, torch.no_grad() around part of forward, a custom
    autograd.Function with a wrong backward, in-place ops that break autograd.
    Fix: keep the whole forward differentiable; gradcheck any custom backward.
    """
    module, x, weights, _ = _forward_pair(subject, case)
    x.requires_grad_(True)
    cotangent = torch.randn(case.input_shape, generator=torch.Generator().manual_seed(case.seed + 2), dtype=torch.float64)
    (call(module, x) * cotangent).sum().backward()
    reference = _reference_input(case).requires_grad_(True)
    (oracle_output(subject, case, weights, reference, training=module.training) * cotangent).sum().backward()
    if x.grad is None:
        raise ClauseFailure("no gradient reached the input (is the output detached from it?)")
    assert_close(x.grad, reference.grad, _budget(subject, case) + x.numel(), torch.float64, "input gradient")


@clause("oracle.param_grad", dtypes=("float64",))
def check_oracle_param_grad(subject: Subject, case: Case) -> None:
    """Each parameter's gradient equals the oracle's gradient of the matching canonical weight.

    Source: the blocks' weights are trained by backpropagation through the documents' forward.
    Causes: a parameter used under torch.no_grad() or detached, a wrong custom backward, a
    parameter that is not used at all, weights shared or split differently from the spec.
    Fix: use every parameter in the differentiable forward exactly as the documents do.
    """
    module, x, weights, _ = _forward_pair(subject, case)
    cotangent = torch.randn(case.input_shape, generator=torch.Generator().manual_seed(case.seed + 2), dtype=torch.float64)
    (call(module, x) * cotangent).sum().backward()
    canonical = {k: v.clone().requires_grad_(True) for k, v in weights.items()}
    reference = _reference_input(case)
    (oracle_output(subject, case, canonical, reference, training=module.training) * cotangent).sum().backward()
    expected = transferred_grads(subject, build(subject, case), {k: v.grad for k, v in canonical.items()})
    budget = _budget(subject, case) + x.numel()
    for name, param in module.named_parameters():
        if param.grad is None:
            raise ClauseFailure(f"parameter {name} received no gradient")
        assert_close(param.grad, expected[name], budget, torch.float64, f"gradient of {name}")


def _separated_input(case: Case) -> torch.Tensor:
    """Values of distinct magnitudes in [0.5, 1.5) with random signs: no max-pool tie and no
    exactly-zero pooled value (a ReLU kink) spoils finite differences."""
    numel = torch.Size(case.input_shape).numel()
    generator = torch.Generator().manual_seed(case.seed)
    magnitudes = 0.5 + torch.randperm(numel, generator=generator).to(torch.float64) / numel
    signs = torch.randint(0, 2, (numel,), generator=generator).to(torch.float64) * 2 - 1
    values = (magnitudes * signs).reshape(case.input_shape)
    return make_input(case, values=values)


def _gradcheck(subject: Subject, case: Case, second_order: bool) -> None:
    module = build(subject, case)
    module.eval()
    names = [n for n, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())
    x = _separated_input(case).requires_grad_(True)

    def function(inp, *weights):
        return call_functional(module, dict(zip(names, weights)), inp)

    checker = torch.autograd.gradgradcheck if second_order else torch.autograd.gradcheck
    try:
        ok = checker(function, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=True, fast_mode=True)
    except ClauseFailure:
        raise
    except Exception as err:
        message = str(err).strip().splitlines()
        raise ClauseFailure(f"{checker.__name__}: {' '.join(message[:3])[:400]}") from err
    if not ok:
        raise ClauseFailure(f"{checker.__name__} returned False")


def call_functional(module, weights, x):
    from torch.func import functional_call

    try:
        out = functional_call(module, weights, (x,))
    except Exception as err:
        raise ClauseFailure(f"forward raised {type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor):
        raise ClauseFailure(f"forward returned {type(out).__name__}, not a torch.Tensor")
    return out


@clause("gradcheck", dtypes=("float64",), max_numel=64, max_channels=32)
def check_gradcheck(subject: Subject, case: Case) -> None:
    """Analytic gradients (input and parameters) match finite differences on small float64 inputs.

    Source: torch.autograd.gradcheck; the blocks are smooth almost everywhere.
    Causes: a custom autograd.Function with a wrong backward, detached parts of the graph.
    Fix: drop the custom backward, or derive it again and test it with gradcheck.
    """
    _gradcheck(subject, case, second_order=False)


@clause("gradgradcheck", dtypes=("float64",), max_numel=32, max_channels=16)
def check_gradgradcheck(subject: Subject, case: Case) -> None:
    """Second derivatives match finite differences of the first (needed by gradient penalties, meta-learning).

    Source: torch.autograd.gradgradcheck.
    Causes: a custom backward that is not itself differentiable (uses .detach() or numpy).
    Fix: write the backward with differentiable torch ops, or use once_differentiable honestly.
    """
    _gradcheck(subject, case, second_order=True)


# ---------------------------------------------------------------- behaviour
@clause("deterministic")
def check_deterministic(subject: Subject, case: Case) -> None:
    """Two calls on the same input give bit-identical outputs (in train and in eval mode).

    Source: the documents' blocks contain no randomness.
    Causes: dropout, random noise, stochastic depth, nondeterministic atomics (on GPU).
    Fix: remove the randomness; the blocks are deterministic functions.
    """
    module = build(subject, case)
    x = make_input(case)
    for training in (True, False):
        module.train(training)
        first, second = call(module, x), call(module, x)
        if not torch.equal(first, second):
            diff = (first - second).abs().max().item()
            raise ClauseFailure(f"two calls in {'train' if training else 'eval'} mode differ by up to {diff:.3g}")


@clause("input.unmutated")
def check_input_unmutated(subject: Subject, case: Case) -> None:
    """Forward and backward leave the input tensor's values unchanged.

    Source: DESIGN §5; callers reuse their feature maps (skip connections).
    Causes: in-place ops on the input (x.mul_(gate), x *= gate, torch.sigmoid_(x)).
    Fix: return x * gate, a new tensor.
    """
    x = make_input(case)
    before = x.clone()
    x.requires_grad_(case.dtype == "float64")
    out = call(build(subject, case), x)
    if out.requires_grad:
        out.sum().backward()
    if not torch.equal(x.detach(), before):
        changed = (x.detach() != before).sum().item()
        raise ClauseFailure(f"the input was modified in place: {changed} of {x.numel()} elements changed")


@clause("layout.equivalent", layouts=("channels_last", "noncontiguous"))
def check_layout_equivalent(subject: Subject, case: Case) -> None:
    """channels_last and non-contiguous inputs give the same output as a contiguous input.

    Source: DESIGN §5; channels_last is PyTorch's fast layout for convolutional networks.
    Causes: x.view(...) on the input (fails or scrambles for non-contiguous strides), reshapes that
    assume NCHW strides, custom kernels that read raw storage.
    Fix: use reshape/flatten on pooled results, or make the input contiguous first.
    """
    module = build(subject, case)
    module.eval()
    x = make_input(case)
    reference = call(module, lay_out(x.detach().clone(), "contiguous"))
    found = call(module, x)
    assert_close(found, reference, _budget(subject, case), _dtype(case), f"{case.memory_format} output vs contiguous output")


@clause("cuda.agreement", needs_cuda=True)
def check_cuda_agreement(subject: Subject, case: Case) -> None:
    """On a CUDA device the block gives the CPU's result within the error budget, on that device.

    Source: DESIGN §5 (CPU/GPU agreement where CUDA exists).
    Causes: device-specific code paths, tensors created on the CPU inside forward.
    Fix: one device-agnostic forward.
    """
    module = build(subject, case)
    module.eval()
    x = make_input(case)
    expected = call(module, x)
    module_gpu = module.to("cuda")
    found = call(module_gpu, x.to("cuda"))
    if found.device.type != "cuda":
        raise ClauseFailure(f"output on {found.device} for a CUDA input")
    assert_close(found.cpu(), expected, _budget(subject, case), _dtype(case), "CUDA output vs CPU output")


# ---------------------------------------------------------------- invariants (spec data)
@clause("invariant.bounded", invariant="bounded")
def check_bounded(subject: Subject, case: Case) -> None:
    """Every output element keeps its input's sign and is no larger in magnitude (out = x * g, 0 <= g <= 1).

    Source: documents §1.1 (3) and §3.2-3.3: sigmoid weights between 0 and 1 multiply the input.
    Causes: a residual add (x + x * g), a gate that is not a sigmoid (tanh, softmax * C, no
    activation), scaling by a learned factor.
    Fix: gate = sigmoid(...); return x * gate.
    """
    x = make_input(case)
    out = call(build(subject, case), x).detach()
    x = x.detach()
    slack = 4 * torch.finfo(x.dtype).eps * x.abs()
    too_big = out.abs() > x.abs() + slack
    flipped = (out * x) < 0
    bad = too_big | flipped
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise ClauseFailure(f"at {list(index)} input {x[index].item():.6g} gave output {out[index].item():.6g}: not x * g with g in [0, 1]")


@clause("invariant.zero", invariant="zero")
def check_zero(subject: Subject, case: Case) -> None:
    """An all-zero input gives an all-zero output.

    Source: the output is the input times a gate (documents §1.1 (3)).
    Causes: a bias added after gating, a residual of something other than the input, eps in a division.
    Fix: the last operation is x * gate.
    """
    x = make_input(case, values=torch.zeros(case.input_shape, dtype=torch.float64))
    out = call(build(subject, case), x)
    if out.abs().max().item() != 0:
        raise ClauseFailure(f"zero input gave output with max |value| {out.abs().max().item():.6g}")


@clause("invariant.spatial_permutation", invariant="spatial_permutation")
def check_spatial_permutation(subject: Subject, case: Case) -> None:
    """Permuting pixels permutes the output the same way: the channel gate is constant over space.

    Source: documents §1.1 (1): global pooling turns [h, w, c] into [1, 1, c].
    Causes: a local (windowed) pooling, pooling over one axis only, a positional term.
    Fix: pool over both H and W (mean((2, 3)) / amax((2, 3))).
    """
    module = build(subject, case)
    module.eval()
    x = make_input(case)
    b, c, h, w = case.input_shape
    perm = torch.randperm(h * w, generator=torch.Generator().manual_seed(case.seed + 3))
    permuted = lay_out(x.detach().flatten(2)[:, :, perm].reshape(b, c, h, w), case.memory_format)
    expected = call(module, x).detach().flatten(2)[:, :, perm].reshape(b, c, h, w)
    assert_close(call(module, permuted), expected, _budget(subject, case), _dtype(case), "output of the spatially permuted input")


@clause("invariant.channel_permutation", invariant="channel_permutation")
def check_channel_permutation(subject: Subject, case: Case) -> None:
    """Permuting channels permutes the output the same way: the spatial gate is constant over channels.

    Source: documents §3.3: max and mean over the channel dimension.
    Causes: pooling over a subset of channels, per-channel weights in the spatial branch.
    Fix: reduce over dim=1 with keepdim=True, then convolve the two maps.
    """
    module = build(subject, case)
    module.eval()
    x = make_input(case)
    perm = torch.randperm(case.input_shape[1], generator=torch.Generator().manual_seed(case.seed + 3))
    permuted = lay_out(x.detach()[:, perm], case.memory_format)
    expected = call(module, x).detach()[:, perm]
    assert_close(call(module, permuted), expected, _budget(subject, case), _dtype(case), "output of the channel-permuted input")


@clause("invariant.batch_independent", invariant="batch_independent", min_batch=2)
def check_batch_independent(subject: Subject, case: Case) -> None:
    """Each sample's output depends only on that sample: f(x)[i] == f(x[i:i+1]), in train and eval mode.

    Source: every operation in the documents is per sample.
    Causes: pooling or normalising over the batch dimension, BatchNorm in train mode, view() that
    mixes the batch and channel dimensions.
    Fix: reduce over (2, 3) or dim=1 only; reshape with the batch size first.
    """
    module = build(subject, case)
    x = make_input(case)
    for training in (False, True):
        module.train(training)
        whole = call(module, x).detach()
        for i in range(case.input_shape[0]):
            alone = call(module, lay_out(x.detach()[i : i + 1].clone(), case.memory_format)).detach()
            assert_close(whole[i : i + 1], alone, _budget(subject, case), _dtype(case),
                         f"sample {i} in a batch of {case.input_shape[0]} vs alone ({'train' if training else 'eval'} mode)")


@clause("invariant.train_eval", invariant="train_eval")
def check_train_eval(subject: Subject, case: Case) -> None:
    """Train mode and eval mode give the same output.

    Source: the documents' blocks have no dropout and no batch statistics.
    Causes: dropout, BatchNorm, branches on self.training.
    Fix: remove mode-dependent layers.
    """
    module = build(subject, case)
    x = make_input(case)
    module.train()
    in_train = call(module, x).detach()
    module.eval()
    assert_close(in_train, call(module, x).detach(), _budget(subject, case), _dtype(case), "train-mode vs eval-mode output")


@clause("invariant.kernel_size", invariant="kernel_size", dtypes=("float64",), layouts=("contiguous",))
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
    with torch.no_grad():
        generator = torch.Generator().manual_seed(case.seed + 4)
        for p in module.parameters():
            p.copy_((torch.rand(p.shape, generator=generator, dtype=p.dtype) + 0.5) / p.numel())
    x = make_input(case).detach()
    b, c, h, w = case.input_shape
    length = c if axis == "channel" else h
    source = int(torch.randint(length, (1,), generator=generator))
    bumped = x.clone()
    if axis == "channel":
        bumped[:, source] += 3.0
    else:
        bumped[:, :, source, min(source, w - 1)] += 3.0
    before, after = call(module, x).detach(), call(module, bumped).detach()
    # which positions' gates changed, away from the perturbed position itself
    other_dims = (0, 2, 3) if axis == "channel" else (0, 1, 3)
    changed = (before - after).abs().amax(dim=other_dims) > 1e-12 * (1 + before.abs().max())
    positions = torch.arange(length)
    distance = (positions - source).abs()
    if wrap:
        distance = torch.minimum(distance, length - distance)
    expected = distance <= size // 2
    mismatch = (changed != expected)
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
    weights = oracle_weights(subject, case)
    whole = build(subject, case)
    transfer(subject, whole, weights)
    whole.eval()
    x = make_input(case)
    staged = x
    for stage_name in subject.block.stages:
        stage = subject.for_block(stage_name)
        stage_kwargs = {p.name: case.kwargs[p.name] for p in stage.block.params}
        stage_case = Case(stage_kwargs, case.input_shape, case.dtype, case.memory_format, case.seed)
        module = build(stage, stage_case)
        prefix = stage_name + "."
        transfer(stage, module, {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
        module.eval()
        staged = call(module, staged, f"{stage_name} forward")
    if "residual" in subject.block.oracle and subject.block.oracle["residual"].evaluate(subject.env(case)):
        staged = x + staged
    assert_close(call(whole, x), staged, _budget(subject, case), _dtype(case), "block output vs its stages in order")


def clauses_for(block_name: str, spec) -> list[Clause]:
    """The clauses the spec declares for a block, in a stable order."""
    return [c for c in CLAUSES.values() if c.applies_to(block_name, spec)]
