"""The float64 oracle: each block as a pure function of (setting, canonical weights, input).

Built from the spec's ``oracle`` recipe and the setting's variant options, never from any
implementation under test. It is the ground truth for the equivalence clauses.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F

from .expr import Value
from .spec import BlockSpec, Spec

BATCHNORM_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which every library we know keeps


def random_weights(block: BlockSpec, env: Mapping[str, Value], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Canonical weights drawn like PyTorch's default init: uniform in ±1/sqrt(fan_in), float64."""
    weights = {}
    for name, shape in block.canonical_shapes(env).items():
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        bound = 1.0 / math.sqrt(max(fan_in, 1))
        weights[name] = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return weights


def forward(
    spec: Spec,
    block: BlockSpec,
    env: Mapping[str, Value],
    weights: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    training: bool = False,
) -> torch.Tensor:
    """The block's output for input ``x`` [B, C, H, W] under ``env`` (parameters + variant options)."""
    recipe = block.oracle
    if recipe["gate"] == "channel":
        return x * _channel_gate(recipe, env, weights, x)[:, :, None, None]
    if recipe["gate"] == "spatial":
        return x * _spatial_gate(recipe, env, weights, x, training)
    out = x
    for stage_name in block.stages:
        stage = spec.block(stage_name)
        stage_env = stage.env(
            {p.name: env[p.name] for p in stage.params},
            {v.name: env[v.name] for v in stage.variants if v.name in env},
        )
        prefix = stage_name + "."
        stage_weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        out = forward(spec, stage, stage_env, stage_weights, out, training)
    if "residual" in recipe and recipe["residual"].evaluate(env):
        out = x + out
    return out


def _pool_space(x: torch.Tensor, kind: str) -> torch.Tensor:
    return x.amax(dim=(2, 3)) if kind == "max" else x.mean(dim=(2, 3))


def _channel_gate(recipe, env, weights, x: torch.Tensor) -> torch.Tensor:
    """sigmoid(sum over pools of mixer(pool(x))), shape [B, C]."""
    logits = sum(_mix(recipe["mixer"], env, weights, _pool_space(x, kind)) for kind in recipe["pools"])
    return torch.sigmoid(logits)


def _mix(mixer: str, env, weights, pooled: torch.Tensor) -> torch.Tensor:
    if mixer == "mlp":
        hidden = F.relu(F.linear(pooled, weights["fc1.weight"], weights.get("fc1.bias")))
        return F.linear(hidden, weights["fc2.weight"], weights.get("fc2.bias"))
    if mixer == "conv1d":
        return _conv_over_channels(pooled, weights["conv.weight"], weights.get("conv.bias"), env)
    raise ValueError(f"mixer {mixer!r} cannot mix a pooled vector")


def _conv_over_channels(pooled: torch.Tensor, kernel: torch.Tensor, bias, env) -> torch.Tensor:
    """1D cross-correlation along channels with zero or circular padding of k // 2 on each side."""
    channels, k = pooled.shape[1], kernel.shape[-1]
    pad = int(env["padding"]) if "padding" in env else k // 2
    offsets = torch.arange(k) - pad
    index = torch.arange(channels)[:, None] + offsets[None, :]  # [C, k]: input channel per tap
    if env.get("padding_mode") == "circular":
        taps = pooled[:, index % channels]
    else:
        valid = (index >= 0) & (index < channels)
        taps = pooled[:, index.clamp(0, channels - 1)] * valid
    out = (taps * kernel.reshape(k)).sum(-1)
    return out + bias.reshape(()) if bias is not None else out


def _spatial_gate(recipe, env, weights, x: torch.Tensor, training: bool) -> torch.Tensor:
    """sigmoid(conv2d([pools over channels])), shape [B, 1, H, W]; optional BatchNorm2d(1)."""
    maps = {"max": x.amax(dim=1, keepdim=True), "mean": x.mean(dim=1, keepdim=True)}
    order = env["pool_order"].split("_") if "pool_order" in env else recipe["pools"]
    kernel = weights["conv.weight"]
    logits = F.conv2d(torch.cat([maps[k] for k in order], dim=1), kernel, weights.get("conv.bias"),
                      padding=kernel.shape[-1] // 2)
    if env.get("batchnorm"):
        if training:
            mean = logits.mean(dim=(0, 2, 3), keepdim=True)
            var = logits.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        else:  # a freshly built BatchNorm2d: running mean 0, running variance 1
            mean, var = torch.zeros((), dtype=x.dtype), torch.ones((), dtype=x.dtype)
        logits = (logits - mean) / torch.sqrt(var + BATCHNORM_EPS) * weights["bn.weight"] + weights["bn.bias"]
    return torch.sigmoid(logits)
