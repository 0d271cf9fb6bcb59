"""attncert's fast implementation of SE, ECA and CBAM: the spec, computed with as few passes over
memory as eager PyTorch allows, and certified like every other implementation.

- SE: Hu et al., Squeeze-and-Excitation Networks, https://arxiv.org/abs/1709.01507
- ECA: Wang et al., ECA-Net, https://arxiv.org/abs/1910.03151
- CBAM: Woo et al., CBAM, https://arxiv.org/abs/1807.06521

Every block is "output = input times a gate", with a gate that is small (``[B, C]`` or ``[B, 1, H, W]``)
next to the input. On a CPU such a block is bound by memory traffic and, above all, by allocating
its full-size output, so this file does three things that the plain implementation does not:

1. **One full-size allocation per forward call.** The output is allocated once and written with
   ``torch.mul(..., out=)``; CBAM applies its spatial gate in place on its own output instead of
   materialising ``x * channel_gate`` and then a second product.
2. **Huge pages for fresh full-size buffers** (Linux, CPU, at least ``_HUGEPAGE_MIN_BYTES``). With
   glibc's default allocator a large tensor is a fresh ``mmap`` on every call, and faulting it in
   4 KiB pages costs several times the arithmetic. ``madvise(MADV_HUGEPAGE)`` on a new, untouched
   buffer (what ``THP_MEM_ALLOC_ENABLE=1`` does for every PyTorch allocation) lets the kernel fault
   it in 2 MiB pages. It only advises the kernel about memory this module just allocated and has
   not touched; set ``ATTNCERT_FAST_HUGEPAGES=0`` to turn it off.
3. **Hand-written, fused backward passes** (``torch.autograd.Function``): autograd's generic
   backward of ``x * gate`` allocates ``grad * x``, ``grad * gate`` and their sum with the pools'
   gradients, each a fresh full-size tensor; here the input's gradient is written once into one
   buffer (``addcmul``, then max pooling's terms in place). The small gate computations (MLP, 1D and 2D convolutions, sigmoid) are
   differentiated by autograd itself (a vector-Jacobian product on the pooled tensors), so only
   the full-size parts are hand-derived. Max pooling splits its gradient evenly among tied
   maxima, exactly as ``torch.amax`` does. When autograd asks for a differentiable backward
   (``create_graph=True``: double backward, gradient penalties), backward instead differentiates
   the plain definitions (``_plain_*``) with autograd. Both are checked with ``gradcheck`` and
   ``gradgradcheck`` (tests/test_impl_fast.py).

Full-size passes run in chunks of whole samples (every block is per-sample), so that backward's
temporaries stay chunk-sized (glibc then reuses them instead of mapping and faulting in fresh
memory) and a chunk's second touch can hit the cache. ``ATTNCERT_FAST_CHUNK_BYTES`` sets the chunk
size (default 16 MiB; 0: the whole batch as one chunk). Measured at [32, 256, 56, 56] with two
threads on an idle 2-core machine, 16 MiB chunks against the whole batch: CBAM forward 1.9x the
floor instead of 2.25x, forward+backward 5.2x instead of 11x. On an overloaded machine the
trade-off turns: every operation on a chunk is an OpenMP parallel region, and each region can wait
a scheduler slice for its second thread, so fewer, larger chunks (or 0) do better there. Results
do not depend on the chunking beyond floating-point rounding, and are deterministic.

``torch.compile`` is not used: on the same machine it compiled for about 40 s per input shape and
then took 0.85-0.9x the eager time for CBAM's forward but 1.4-1.5x for SE's (which eager code already does
in the floor's two passes), and it would recompile for every new shape, dtype and layout.

Parameter names and registration order are the canonical ones (the plug-in contract), so weights transfer.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

_HUGEPAGE_MIN_BYTES = 4 << 20
_HUGEPAGE = 2 << 20
_MADV_HUGEPAGE = 14
_DEFAULT_CHUNK_BYTES = 16 << 20


# ---------------------------------------------------------------- allocation and chunking
@functools.lru_cache(maxsize=1)
def _libc() -> tuple[Callable, Callable] | None:
    """libc's madvise and mincore, or None where unavailable or switched off (looked up on first use)."""
    if not sys.platform.startswith("linux") or os.environ.get("ATTNCERT_FAST_HUGEPAGES", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise, mincore = libc.madvise, libc.mincore
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    madvise.restype = mincore.restype = ctypes.c_int
    return madvise, mincore


def _new_like(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An uninitialised tensor like ``x`` (same layout where ``x`` is dense), on huge pages where that helps.

    Every full-size tensor of this module, outputs and backward temporaries alike, comes from here.
    Only memory not yet touched is advised: that is a fresh mapping (glibc's malloc maps every large
    block anew), which huge pages fault in far faster. Memory an allocator reuses (tcmalloc's) is
    already resident, and advising it was measured to make it slower.
    """
    out = torch.empty_like(x, dtype=dtype)
    nbytes = out.numel() * out.element_size()
    if out.device.type != "cpu" or nbytes < _HUGEPAGE_MIN_BYTES:
        return out
    libc = _libc()
    start = -(-out.data_ptr() // _HUGEPAGE) * _HUGEPAGE
    end = (out.data_ptr() + nbytes) // _HUGEPAGE * _HUGEPAGE
    if libc is not None and end > start:
        madvise, mincore = libc
        resident = ctypes.create_string_buffer(1)
        if mincore(start, 1, resident) == 0 and not resident.raw[0] & 1:  # the first page is untouched
            madvise(start, end - start, _MADV_HUGEPAGE)  # advice only: a failure changes nothing
    return out


def _chunk_bytes() -> int:
    return int(os.environ.get("ATTNCERT_FAST_CHUNK_BYTES", _DEFAULT_CHUNK_BYTES))


def _chunks(x: torch.Tensor) -> list[slice]:
    """Slices of whole samples of about the configured chunk size (at least one sample each)."""
    batch = x.shape[0]
    per_sample = max(1, math.prod(x.shape[1:]) * x.element_size())
    limit = _chunk_bytes()
    step = max(1, limit // per_sample) if limit > 0 else max(1, batch)
    # An empty batch still gets one (empty) chunk, so that forward and backward run their usual code.
    return [slice(i, min(i + step, batch)) for i in range(0, max(batch, 1), step)]


def _vjp(fn: Callable, inputs: Sequence[torch.Tensor], grad: torch.Tensor, needs: Sequence[bool]):
    """``fn(*inputs)`` and its vector-Jacobian product with ``grad``; None for inputs not in ``needs``.

    For the small gate sub-graphs only (MLP, convolutions, sigmoid): autograd differentiates them.
    """
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(need) for t, need in zip(inputs, needs)]
        value = fn(*leaves)
        wanted = [leaf for leaf, need in zip(leaves, needs) if need]
        found = iter(torch.autograd.grad(value, wanted, grad) if wanted else ())
    return value.detach(), [next(found) if need else None for need in needs]


# ---------------------------------------------------------------- the gates (small sub-graphs)
def _mlp(pooled: torch.Tensor, fc1: torch.Tensor, fc2: torch.Tensor) -> torch.Tensor:
    return F.linear(F.relu(F.linear(pooled, fc1)), fc2)


def _se_gate(avg, fc1, fc2):
    return torch.sigmoid(_mlp(avg, fc1, fc2))


def _channel_attention_gate(mx, avg, fc1, fc2):
    both = _mlp(torch.cat([mx, avg]), fc1, fc2)  # one pass over the shared MLP's weights, not two
    return torch.sigmoid(both[: len(mx)] + both[len(mx):])


def _eca_gate(avg, kernel):
    return torch.sigmoid(F.conv1d(avg[:, None, :], kernel, padding=kernel.shape[-1] // 2)[:, 0, :])


def _spatial_gate(mx, mean, kernel):
    return torch.sigmoid(F.conv2d(torch.cat([mx, mean], dim=1), kernel, padding=kernel.shape[-1] // 2))


# A channel gate: which pools over H, W it reads ("max" or "avg", in the gate function's order).
_CHANNEL_GATES = {_se_gate: ("avg",), _channel_attention_gate: ("max", "avg"), _eca_gate: ("avg",)}


# ---------------------------------------------------------------- the blocks as plain autograd code
# What the fused code below computes, written with differentiable torch ops only. Backward uses
# them when autograd asks for a differentiable backward (create_graph=True: double backward,
# gradient penalties, gradgradcheck); every other backward is the fused one.
def _plain_channel(x, gate_fn, weights):
    pooled = [x.amax((2, 3)) if kind == "max" else x.mean((2, 3)) for kind in _CHANNEL_GATES[gate_fn]]
    return x * gate_fn(*pooled, *weights)[:, :, None, None]


def _plain_spatial(x, kernel):
    return x * _spatial_gate(x.amax(1, keepdim=True), x.mean(1, keepdim=True), kernel)


def _plain_cbam(x, fc1, fc2, kernel):
    return _plain_spatial(_plain_channel(x, _channel_attention_gate, (fc1, fc2)), kernel)


def _differentiable_backward(plain, inputs, grad_out, needs):
    """The gradients of ``plain(*inputs)``, as a graph that can itself be differentiated."""
    wanted = [t for t, need in zip(inputs, needs) if need]
    found = iter(torch.autograd.grad(plain(*inputs), wanted, grad_out, create_graph=True))
    return [next(found) if need else None for need in needs]


# ---------------------------------------------------------------- full-size passes, chunk by chunk
def _pool_hw(x: torch.Tensor, pools: Sequence[str]) -> list[torch.Tensor]:
    """Max or mean over H, W, ``[B, C]`` each; a chunk's second pool reads it from the cache."""
    outs = [x.new_empty(x.shape[:2]) for _ in pools]
    for part in _chunks(x):
        for out, kind in zip(outs, pools):
            (torch.amax if kind == "max" else torch.mean)(x[part], (2, 3), out=out[part])
    return outs


def _pool_c_into(y: torch.Tensor, mx: torch.Tensor, mean: torch.Tensor) -> None:
    torch.amax(y, 1, keepdim=True, out=mx)
    torch.mean(y, 1, keepdim=True, out=mean)


def _reduce_product(a: torch.Tensor, b: torch.Tensor, dims) -> torch.Tensor:
    """``(a * b).sum(dims, keepdim=True)``, the product one chunk at a time."""
    total = a.new_empty([1 if d in dims else n for d, n in enumerate(a.shape)])
    for part in _chunks(a):
        torch.sum(torch.mul(a[part], b[part], out=_new_like(a[part])), dims, keepdim=True, out=total[part])
    return total


def _add_max_grad(out: torch.Tensor, grad_pooled: torch.Tensor, x: torch.Tensor, maxima: torch.Tensor, dims) -> None:
    """amax's backward, added to ``out``: the pooled gradient shared evenly among tied maxima of ``x``."""
    at_max = torch.eq(x, maxima, out=_new_like(x, torch.bool))
    out.addcmul_(at_max, grad_pooled / at_max.sum(dims, keepdim=True))


def _channel_input_grad(grad_y, x, gate, pooled, grad_pooled, pools, out) -> None:
    """d loss / d x of ``x * gate(pool_hw(x))`` into ``out`` (which may be ``grad_y`` itself)."""
    g4 = gate[:, :, None, None]
    avg = [g for g, kind in zip(grad_pooled, pools) if kind == "avg"]
    for part in _chunks(x):
        if avg:
            base = (avg[0][part] / (x.shape[2] * x.shape[3]))[:, :, None, None]
            torch.addcmul(base, grad_y[part], g4[part], out=out[part])
        else:
            torch.mul(grad_y[part], g4[part], out=out[part])
        for value, grad, kind in zip(pooled, grad_pooled, pools):
            if kind == "max":
                _add_max_grad(out[part], grad[part][:, :, None, None], x[part], value[part][:, :, None, None], (2, 3))


def _spatial_input_grad(grad_y, y, gate, mx, grad_max, grad_mean, out=None) -> torch.Tensor:
    """d loss / d y of ``y * gate(max_c(y), mean_c(y))`` for one chunk, into ``out`` (not ``y``; None: new)."""
    grad = torch.addcmul(grad_mean / y.shape[1], grad_y, gate, out=_new_like(y) if out is None else out)
    _add_max_grad(grad, grad_max, y, mx, 1)
    return grad


# ---------------------------------------------------------------- the blocks, forward and backward
def _channel_forward(x, gate_fn, weights):
    """``x * gate_fn(pools(x), *weights)``, and the pooled tensors (for backward)."""
    pooled = _pool_hw(x, _CHANNEL_GATES[gate_fn])
    gate = gate_fn(*pooled, *weights)
    return torch.mul(x, gate[:, :, None, None], out=_new_like(x)), pooled


class _ChannelBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gate_fn, *weights):
        out, pooled = _channel_forward(x, gate_fn, weights)
        ctx.gate_fn = gate_fn
        ctx.save_for_backward(x, *weights, *pooled)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        pools = _CHANNEL_GATES[ctx.gate_fn]
        x, *rest = ctx.saved_tensors
        weights, pooled = rest[: -len(pools)], rest[-len(pools):]
        need_x, need_w = ctx.needs_input_grad[0], list(ctx.needs_input_grad[2:])
        if torch.is_grad_enabled():  # create_graph=True
            grad_x, *grad_w = _differentiable_backward(
                lambda x, *w: _plain_channel(x, ctx.gate_fn, w), (x, *weights), grad_out, [need_x, *need_w]
            )
            return (grad_x, None, *grad_w)
        grad_gate = _reduce_product(grad_out, x, (2, 3))[:, :, 0, 0]
        gate, grads = _vjp(ctx.gate_fn, [*pooled, *weights], grad_gate, [need_x] * len(pools) + need_w)
        grad_x = None
        if need_x:
            grad_x = _new_like(x)
            _channel_input_grad(grad_out, x, gate, pooled, grads[: len(pools)], pools, out=grad_x)
        return (grad_x, None, *grads[len(pools):])


def _spatial_forward(x, kernel):
    """``x * spatial_gate(x)`` chunk by chunk (pools, convolution, product while the chunk is cached)."""
    out = _new_like(x)
    mx, mean = (x.new_empty((x.shape[0], 1, *x.shape[2:])) for _ in range(2))
    for part in _chunks(x):
        _pool_c_into(x[part], mx[part], mean[part])
        torch.mul(x[part], _spatial_gate(mx[part], mean[part], kernel), out=out[part])
    return out, mx, mean


class _SpatialBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel):
        out, mx, mean = _spatial_forward(x, kernel)
        ctx.save_for_backward(x, kernel, mx, mean)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, kernel, mx, mean = ctx.saved_tensors
        need_x, need_k = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph=True
            return tuple(_differentiable_backward(_plain_spatial, (x, kernel), grad_out, [need_x, need_k]))
        grad_gate = _reduce_product(grad_out, x, (1,))
        gate, (g_max, g_mean, g_k) = _vjp(_spatial_gate, [mx, mean, kernel], grad_gate, [need_x, need_x, need_k])
        grad_x = None
        if need_x:
            grad_x = _new_like(x)
            for part in _chunks(x):
                _spatial_input_grad(grad_out[part], x[part], gate[part], mx[part], g_max[part], g_mean[part],
                                    out=grad_x[part])
        return grad_x, g_k


def _cbam_forward(x, fc1, fc2, kernel):
    """Channel gate, then, chunk by chunk, the spatial gate of ``y = x * channel_gate`` applied in place on y."""
    c_max, c_avg = _pool_hw(x, ("max", "avg"))
    gate = _channel_attention_gate(c_max, c_avg, fc1, fc2)
    g4 = gate[:, :, None, None]
    out = _new_like(x)
    s_max, s_mean = (x.new_empty((x.shape[0], 1, *x.shape[2:])) for _ in range(2))
    for part in _chunks(x):
        y = torch.mul(x[part], g4[part], out=out[part])
        _pool_c_into(y, s_max[part], s_mean[part])
        y.mul_(_spatial_gate(s_max[part], s_mean[part], kernel))
    return out, (c_max, c_avg, gate, s_max, s_mean)


class _CBAMBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fc1, fc2, kernel):
        out, saved = _cbam_forward(x, fc1, fc2, kernel)
        ctx.save_for_backward(x, fc1, fc2, kernel, *saved)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, fc1, fc2, kernel, c_max, c_avg, gate, s_max, s_mean = ctx.saved_tensors
        need_x, need_fc1, need_fc2, need_k = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph=True
            return tuple(_differentiable_backward(_plain_cbam, (x, fc1, fc2, kernel), grad_out, ctx.needs_input_grad))
        need_channel = need_x or need_fc1 or need_fc2  # the channel MLP's gradients pass through y
        g4 = gate[:, :, None, None]
        # 1. The spatial gate's gradient, sum over channels of grad_out * y, with y = x * gate
        #    recomputed per chunk: bitwise the forward's y (one rounded product per element).
        grad_s = x.new_empty(s_max.shape)
        for part in _chunks(x):
            y = torch.mul(x[part], g4[part], out=_new_like(x[part]))
            torch.sum(y.mul_(grad_out[part]), 1, keepdim=True, out=grad_s[part])
        s_gate, (g_smax, g_smean, grad_k) = _vjp(
            _spatial_gate, [s_max, s_mean, kernel], grad_s, [need_channel, need_channel, need_k]
        )
        if not need_channel:
            return None, None, None, grad_k
        # 2. grad_y (kept in grad_x's buffer when the input needs a gradient), and the channel gate's
        #    gradient, sum over H, W of grad_y * x.
        grad_x = _new_like(x) if need_x else None
        grad_gate = x.new_empty(gate.shape)
        for part in _chunks(x):
            y = torch.mul(x[part], g4[part], out=_new_like(x[part]))
            grad_y = _spatial_input_grad(grad_out[part], y, s_gate[part], s_max[part], g_smax[part], g_smean[part],
                                         out=grad_x[part] if need_x else None)
            torch.sum(y.copy_(grad_y).mul_(x[part]), (2, 3), out=grad_gate[part])  # y's memory as scratch
        _, (g_cmax, g_cavg, grad_fc1, grad_fc2) = _vjp(
            _channel_attention_gate, [c_max, c_avg, fc1, fc2], grad_gate, [need_x, need_x, need_fc1, need_fc2]
        )
        # 3. grad_x = grad_y * gate + the channel pools' terms, in place.
        if need_x:
            _channel_input_grad(grad_x, x, gate, [c_max, c_avg], (g_cmax, g_cavg), ("max", "avg"), out=grad_x)
        return grad_x, grad_fc1, grad_fc2, grad_k


def _tracks_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


# ---------------------------------------------------------------- modules
def _check_ratio(in_channel: int, ratio: int) -> None:
    if in_channel // ratio < 1:
        raise ValueError(f"in_channel // ratio must be >= 1, got {in_channel} // {ratio}")


def eca_kernel_size(in_channel: int, b: int = 1, gamma: int = 2) -> int:
    """t = trunc(|(log2 C + b) / gamma|); an even t becomes the next odd number."""
    t = int(abs((math.log2(in_channel) + b) / gamma))
    return t if t % 2 else t + 1


class _ChannelGated(nn.Module):
    """Base of the blocks whose gate is per channel; subclasses name the gate and its weights."""

    gate_fn: Callable

    def weights(self) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.weights()
        if _tracks_grad(x, *weights):
            return _ChannelBlock.apply(x, type(self).gate_fn, *weights)
        return _channel_forward(x, type(self).gate_fn, weights)[0]


class SqueezeExcitation(_ChannelGated):
    """mean over H, W -> FC (C -> C//ratio) -> ReLU -> FC (-> C) -> sigmoid, times the input."""

    gate_fn = staticmethod(_se_gate)

    def __init__(self, in_channel: int, ratio: int = 4):
        super().__init__()
        _check_ratio(in_channel, ratio)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def weights(self):
        return self.fc1.weight, self.fc2.weight


class EfficientChannelAttention(_ChannelGated):
    """mean over H, W -> 1D conv across channels (adaptive odd kernel) -> sigmoid, times the input."""

    gate_fn = staticmethod(_eca_gate)

    def __init__(self, in_channel: int, b: int = 1, gamma: int = 2):
        super().__init__()
        kernel_size = eca_kernel_size(in_channel, b, gamma)
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def weights(self):
        return (self.conv.weight,)


class ChannelAttention(_ChannelGated):
    """CBAM's channel attention: a shared MLP over the max- and mean-pooled vectors, summed, sigmoid."""

    gate_fn = staticmethod(_channel_attention_gate)

    def __init__(self, in_channel: int, ratio: int = 4):
        super().__init__()
        _check_ratio(in_channel, ratio)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def weights(self):
        return self.fc1.weight, self.fc2.weight


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: [max, mean] over channels -> k x k conv -> sigmoid, times the input."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.conv.weight
        if _tracks_grad(x, kernel):
            return _SpatialBlock.apply(x, kernel)
        return _spatial_forward(x, kernel)[0]


class CBAM(nn.Module):
    """Channel attention, then spatial attention on its output, fused into one pass per chunk."""

    def __init__(self, in_channel: int, ratio: int = 4, kernel_size: int = 7):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = (*self.channel_attention.weights(), self.spatial_attention.conv.weight)
        if _tracks_grad(x, *weights):
            return _CBAMBlock.apply(x, *weights)
        return _cbam_forward(x, *weights)[0]


def se(*, in_channel: int, ratio: int = 4) -> nn.Module:
    return SqueezeExcitation(in_channel, ratio)


def eca(*, in_channel: int, b: int = 1, gamma: int = 2) -> nn.Module:
    return EfficientChannelAttention(in_channel, b, gamma)


def channel_attention(*, in_channel: int, ratio: int = 4) -> nn.Module:
    return ChannelAttention(in_channel, ratio)


def spatial_attention(*, kernel_size: int = 7) -> nn.Module:
    return SpatialAttention(kernel_size)


def cbam(*, in_channel: int, ratio: int = 4, kernel_size: int = 7) -> nn.Module:
    return CBAM(in_channel, ratio, kernel_size)
