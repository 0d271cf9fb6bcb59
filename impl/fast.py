"""attncert's fast implementation of SE, ECA and CBAM: the spec, computed with as few passes over
memory as eager PyTorch allows, and certified like every other implementation.

- SE: Hu et al., Squeeze-and-Excitation Networks, https://arxiv.org/abs/1709.01507
- ECA: Wang et al., ECA-Net, https://arxiv.org/abs/1910.03151
- CBAM: Woo et al., CBAM, https://arxiv.org/abs/1807.06521

Every block is "output = input times a gate", with a gate that is small (``[B, C]`` or ``[B, 1, H, W]``)
next to the input. On a CPU such a block is bound by memory traffic and, above all, by allocating
its full-size output, so this file does three things that the plain implementation does not:

1. **One full-size allocation per call.** The output is allocated once and written once with
   ``torch.mul(..., out=)``; CBAM applies its spatial gate in place on its own output instead of
   materialising ``x * channel_gate`` and then a second product.
2. **Huge pages for that allocation** (Linux, CPU, at least ``_HUGEPAGE_MIN_BYTES``). With glibc's
   default allocator a large tensor is a fresh ``mmap`` on every call, and faulting it in 4 KiB
   pages costs several times the arithmetic. ``madvise(MADV_HUGEPAGE)`` on the new buffer (what
   ``THP_MEM_ALLOC_ENABLE=1`` does for every PyTorch allocation) lets the kernel fault it in 2 MiB
   pages. It only advises the kernel about memory this module just allocated; set
   ``ATTNCERT_FAST_HUGEPAGES=0`` to turn it off.
3. **Hand-written, fused backward passes** (``torch.autograd.Function``): autograd's generic
   backward of ``x * gate`` materialises ``grad * x`` and ``grad * gate`` and then sums them into a
   third full-size tensor; here the gate's gradient is one reduction and the input's gradient one
   fused write. The small gate computations (MLP, 1D and 2D convolutions, sigmoid) are
   differentiated by autograd itself (a vector-Jacobian product on the pooled tensors), so only
   the full-size parts are hand-derived. Max pooling splits its gradient evenly among tied
   maxima, exactly as ``torch.amax`` does, and these functions are verified with ``gradcheck``
   (tests/test_fast_impl.py).

Work is done in chunks of whole samples (every block is per-sample), so that the second touch of
a chunk can hit the cache; ``ATTNCERT_FAST_CHUNK_BYTES`` sets the chunk size (0: the whole batch).
Results do not depend on the chunking beyond floating-point rounding, and are deterministic.
``torch.compile`` is not used: measured on a 2-core CPU it did not beat this eager code (see
docs/benchmarks.md), and it would add compile latency and recompilation for every new shape.

Parameter names and registration order are the canonical ones (DESIGN §2), so weights transfer.
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
from torch.autograd.function import once_differentiable

_HUGEPAGE_MIN_BYTES = 4 << 20
_HUGEPAGE = 2 << 20
_MADV_HUGEPAGE = 14
_DEFAULT_CHUNK_BYTES = 0


# ---------------------------------------------------------------- allocation and chunking
@functools.lru_cache(maxsize=1)
def _madvise() -> Callable | None:
    """libc's madvise, or None where it is unavailable or switched off (looked up on first use)."""
    if not sys.platform.startswith("linux") or os.environ.get("ATTNCERT_FAST_HUGEPAGES", "1") == "0":
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _new_like(x: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor like ``x`` (same layout where ``x`` is dense), backed by huge pages if possible."""
    out = torch.empty_like(x)
    nbytes = out.numel() * out.element_size()
    if out.device.type == "cpu" and nbytes >= _HUGEPAGE_MIN_BYTES:
        madvise = _madvise()
        if madvise is not None:
            start = -(-out.data_ptr() // _HUGEPAGE) * _HUGEPAGE
            end = (out.data_ptr() + nbytes) // _HUGEPAGE * _HUGEPAGE
            if end > start:
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


def _add(total: torch.Tensor | None, part: torch.Tensor | None) -> torch.Tensor | None:
    return part if total is None else total + part


def _max_grad(grad_pooled: torch.Tensor, mask: torch.Tensor, dims) -> torch.Tensor:
    """amax's backward: the pooled gradient shared evenly among the tied maxima (``mask``)."""
    return mask * (grad_pooled / mask.sum(dims, keepdim=True))


# ---------------------------------------------------------------- the gates (small sub-graphs)
def _mlp(pooled: torch.Tensor, fc1: torch.Tensor, fc2: torch.Tensor) -> torch.Tensor:
    return F.linear(F.relu(F.linear(pooled, fc1)), fc2)


def _se_gate(avg, fc1, fc2):
    return torch.sigmoid(_mlp(avg, fc1, fc2))


def _channel_attention_gate(mx, avg, fc1, fc2):
    return torch.sigmoid(_mlp(mx, fc1, fc2) + _mlp(avg, fc1, fc2))


def _eca_gate(avg, kernel):
    return torch.sigmoid(F.conv1d(avg[:, None, :], kernel, padding=kernel.shape[-1] // 2)[:, 0, :])


def _spatial_gate(mx, mean, kernel):
    return torch.sigmoid(F.conv2d(torch.cat([mx, mean], dim=1), kernel, padding=kernel.shape[-1] // 2))


# A channel gate: which pools over H, W it reads ("max" or "avg", in the gate function's order).
_CHANNEL_GATES = {_se_gate: ("avg",), _channel_attention_gate: ("max", "avg"), _eca_gate: ("avg",)}


def _pool_hw(x: torch.Tensor, pools: Sequence[str]) -> list[torch.Tensor]:
    return [x.amax((2, 3)) if kind == "max" else x.mean((2, 3)) for kind in pools]


def _pool_c(y: torch.Tensor) -> list[torch.Tensor]:
    return [y.amax(1, keepdim=True), y.mean(1, keepdim=True)]


def _channel_input_grad(grad_y, x, gate, pooled, grad_pooled, pools, out=None) -> torch.Tensor:
    """d loss / d x of ``x * gate(pool_hw(x))``: ``grad_y * gate`` plus the pools' backward."""
    avg = [g for g, kind in zip(grad_pooled, pools) if kind == "avg"]
    base = (avg[0] / (x.shape[2] * x.shape[3]))[:, :, None, None] if avg else None
    if base is None:
        grad_x = torch.mul(grad_y, gate[:, :, None, None], out=out)
    else:
        grad_x = torch.addcmul(base, grad_y, gate[:, :, None, None], out=out)
    for value, grad, kind in zip(pooled, grad_pooled, pools):
        if kind == "max":
            grad_x += _max_grad(grad[:, :, None, None], x == value[:, :, None, None], (2, 3))
    return grad_x


# ---------------------------------------------------------------- fused forward and backward
def _channel_forward(x, gate_fn, weights, saved: list | None):
    """``x * gate_fn(pools(x), *weights)``; ``saved`` collects the pooled tensors for backward."""
    pools = _CHANNEL_GATES[gate_fn]
    out = _new_like(x)
    for part in _chunks(x):
        xc = x[part]
        pooled = _pool_hw(xc, pools)
        gate = gate_fn(*pooled, *weights)
        torch.mul(xc, gate[:, :, None, None], out=out[part])
        if saved is not None:
            saved.append(pooled)
    return out


class _ChannelBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gate_fn, *weights):
        saved: list = []
        out = _channel_forward(x, gate_fn, weights, saved)
        ctx.gate_fn = gate_fn
        ctx.save_for_backward(x, *weights, *(torch.cat(p) for p in zip(*saved)) if saved else ())
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        gate_fn = ctx.gate_fn
        pools = _CHANNEL_GATES[gate_fn]
        x, *rest = ctx.saved_tensors
        weights, pooled_all = rest[: len(rest) - len(pools)], rest[len(rest) - len(pools):]
        need_x, need_w = ctx.needs_input_grad[0], list(ctx.needs_input_grad[2:])
        grad_x = _new_like(x) if need_x else None
        grad_w: list = [None] * len(weights)
        for part in _chunks(x):
            xc, gc = x[part], grad_out[part]
            pooled = [p[part] for p in pooled_all]
            grad_gate = (gc * xc).sum((2, 3))
            gate, grads = _vjp(gate_fn, [*pooled, *weights], grad_gate, [need_x] * len(pools) + need_w)
            grad_w = [_add(total, g) for total, g in zip(grad_w, grads[len(pools):])]
            if need_x:
                _channel_input_grad(gc, xc, gate, pooled, grads[: len(pools)], pools, out=grad_x[part])
        return (grad_x, None, *grad_w)


def _spatial_forward(x, kernel, saved: list | None):
    out = _new_like(x)
    for part in _chunks(x):
        xc = x[part]
        pooled = _pool_c(xc)
        torch.mul(xc, _spatial_gate(*pooled, kernel), out=out[part])
        if saved is not None:
            saved.append(pooled)
    return out


def _spatial_input_grad(grad_y, y, gate, pooled, grad_pooled, out=None) -> torch.Tensor:
    """d loss / d y of ``y * gate(max_c(y), mean_c(y))``."""
    grad_max, grad_mean = grad_pooled
    at_max = _max_grad(grad_max, y == pooled[0], 1)  # before ``out``, which may be ``y`` itself
    grad = torch.addcmul(grad_mean / y.shape[1], grad_y, gate, out=out)
    grad += at_max
    return grad


class _SpatialBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel):
        saved: list = []
        out = _spatial_forward(x, kernel, saved)
        ctx.save_for_backward(x, kernel, *(torch.cat(p) for p in zip(*saved)) if saved else ())
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, kernel, *pooled_all = ctx.saved_tensors
        need_x, need_k = ctx.needs_input_grad
        grad_x = _new_like(x) if need_x else None
        grad_k = None
        for part in _chunks(x):
            xc, gc = x[part], grad_out[part]
            pooled = [p[part] for p in pooled_all]
            grad_gate = (gc * xc).sum(1, keepdim=True)
            gate, (g_max, g_mean, g_k) = _vjp(_spatial_gate, [*pooled, kernel], grad_gate, [need_x, need_x, need_k])
            grad_k = _add(grad_k, g_k)
            if need_x:
                _spatial_input_grad(gc, xc, gate, pooled, (g_max, g_mean), out=grad_x[part])
        return grad_x, grad_k


def _cbam_forward(x, fc1, fc2, kernel, saved: list | None):
    """Channel gate, then the spatial gate of ``x * channel_gate``, applied in place on the output."""
    out = _new_like(x)
    for part in _chunks(x):
        xc = x[part]
        channel_pooled = _pool_hw(xc, ("max", "avg"))
        gate = _channel_attention_gate(*channel_pooled, fc1, fc2)
        y = torch.mul(xc, gate[:, :, None, None], out=out[part])
        spatial_pooled = _pool_c(y)
        y.mul_(_spatial_gate(*spatial_pooled, kernel))
        if saved is not None:
            saved.append((*channel_pooled, gate, *spatial_pooled))
    return out


class _CBAMBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fc1, fc2, kernel):
        saved: list = []
        out = _cbam_forward(x, fc1, fc2, kernel, saved)
        ctx.save_for_backward(x, fc1, fc2, kernel, *(torch.cat(p) for p in zip(*saved)) if saved else ())
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, fc1, fc2, kernel, *saved = ctx.saved_tensors
        need_x, need_fc1, need_fc2, need_k = ctx.needs_input_grad
        need_channel = need_x or need_fc1 or need_fc2  # the channel MLP's gradients pass through y
        grad_x = _new_like(x) if need_x else None
        grad_fc1 = grad_fc2 = grad_k = None
        for part in _chunks(x):
            xc, gc = x[part], grad_out[part]
            c_max, c_avg, gate, s_max, s_mean = (t[part] for t in saved)
            y = xc * gate[:, :, None, None]  # bitwise the forward's y: one rounded product per element
            grad_s = (gc * y).sum(1, keepdim=True)
            s_gate, (g_smax, g_smean, g_k) = _vjp(
                _spatial_gate, [s_max, s_mean, kernel], grad_s, [need_channel, need_channel, need_k]
            )
            grad_k = _add(grad_k, g_k)
            if not need_channel:
                continue
            grad_y = _spatial_input_grad(gc, y, s_gate, [s_max, s_mean], (g_smax, g_smean), out=y)
            del y  # grad_y reuses its memory
            grad_gate = (grad_y * xc).sum((2, 3))
            _, (g_cmax, g_cavg, g1, g2) = _vjp(
                _channel_attention_gate, [c_max, c_avg, fc1, fc2], grad_gate, [need_x, need_x, need_fc1, need_fc2]
            )
            grad_fc1, grad_fc2 = _add(grad_fc1, g1), _add(grad_fc2, g2)
            if need_x:
                _channel_input_grad(grad_y, xc, gate, [c_max, c_avg], (g_cmax, g_cavg), ("max", "avg"),
                                    out=grad_x[part])
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
        return _channel_forward(x, type(self).gate_fn, weights, None)


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
        return _spatial_forward(x, kernel, None)


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
        return _cbam_forward(x, *weights, None)


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
