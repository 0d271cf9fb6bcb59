"""The float64 oracle: registries of named gates, pools and mixers that the spec's recipes compose.

A block's ``oracle`` recipe in ``spec/blocks.yaml`` names a gate (``channel``, ``spatial``,
``sequence``, ...), the pools and the mixer it uses, and ``options``: formulas over the block's
parameters and variant options, evaluated per setting and passed to the functions as keywords.
So a variant reaches the oracle only through its recipe. The functions here are the only place
that knows what a name computes; the spec loader checks every name and option against these
registries, so a recipe cannot name something the oracle does not have.

Recipes are written against the tensor method API, so one recipe computes plain float64 tensors
(values, autograd gradients) and ``numeric.Bounded`` ones (values with error bounds). Weights are
the canonical tensors (spec ``weights``), never an implementation's.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import numeric
from .lazy import lazy_torch
from .numeric import Bounded

torch = lazy_torch()

BATCHNORM_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which every library we know keeps


@dataclass(frozen=True)
class Entry:
    name: str
    function: Callable[..., Any]
    options: tuple[str, ...]  # keyword options a recipe may set (formulas evaluated per setting)
    needs: tuple[str, ...] = ()  # what a gate's recipe must give: pools, mixer, stages

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.function) or ""


GATES: dict[str, Entry] = {}
POOLS: dict[str, Entry] = {}
MIXERS: dict[str, Entry] = {}


def _register(table: dict[str, Entry], name: str, needs: tuple[str, ...] = ()) -> Callable:
    def add(function: Callable) -> Callable:
        options = tuple(p.name for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY)
        table[name] = Entry(name, function, options, needs)
        return function

    return add


def gate(name: str, needs: tuple[str, ...] = ()) -> Callable:
    return _register(GATES, name, needs)


def pool(name: str) -> Callable:
    return _register(POOLS, name)


def mixer(name: str) -> Callable:
    return _register(MIXERS, name)


@dataclass(frozen=True)
class Setting:
    """One evaluation: the block's recipe, its evaluated options, the canonical weights, the mode."""

    spec: Any  # conformance.spec.Spec (for stages)
    block: Any  # conformance.spec.BlockSpec
    env: Mapping[str, Any]
    weights: Mapping[str, Any]
    training: bool

    @property
    def recipe(self):
        return self.block.oracle

    def options_for(self, entry: Entry) -> dict[str, Any]:
        values = self.recipe.evaluate_options(self.env)
        return {k: v for k, v in values.items() if k in entry.options}

    def pool(self, name: str, x, dim, keepdim: bool = False):
        return POOLS[name].function(x, dim, keepdim)

    def mix(self, x):
        entry = MIXERS[self.recipe.mixer]
        return entry.function(self, x, **self.options_for(entry))


# ---------------------------------------------------------------- entry points
def random_weights(block, env, generator, scale: float = 1.0) -> dict:
    """Canonical weights drawn like PyTorch's default init (uniform in ±1/sqrt(fan_in)), times ``scale``."""
    weights = {}
    for name, shape in block.canonical_shapes(env).items():
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        bound = scale / math.sqrt(max(fan_in, 1))
        weights[name] = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return weights


def forward(spec, block, env, weights, x, training: bool = False):
    """The block's output for ``x`` [B, C, H, W] (a float64 tensor, or ``Bounded``) under ``env``."""
    setting = Setting(spec, block, env, weights, training)
    entry = GATES[block.oracle.gate]
    return entry.function(setting, x, **setting.options_for(entry))


def bounded_forward(spec, block, env, weights, x, dtype, training: bool = False) -> Bounded:
    """``forward`` on the exact values of ``x`` held in ``dtype``, with weights held in the module's dtype."""
    held = {name: Bounded.exact(w, dtype) for name, w in weights.items()}
    return forward(spec, block, env, held, Bounded.exact(x, dtype), training)


# ---------------------------------------------------------------- pools
@pool("avg")
def average(x, dim, keepdim=False):
    """Average over the given dimensions (documents: AdaptiveAvgPool2d(1) over space, mean over channels)."""
    return x.mean(dim=dim, keepdim=keepdim)


POOLS["mean"] = POOLS["avg"]  # the documents call the channel-wise average "mean"


@pool("max")
def maximum(x, dim, keepdim=False):
    """Maximum over the given dimensions (documents: AdaptiveMaxPool2d(1), max over channels)."""
    return x.amax(dim=dim, keepdim=keepdim)


# ---------------------------------------------------------------- mixers
@mixer("mlp")
def shared_mlp(setting: Setting, pooled):
    """fc2(relu(fc1(pooled))) on a [B, C] vector; biases where the setting has them."""
    w = setting.weights
    hidden = numeric.linear(pooled, w["fc1.weight"], w.get("fc1.bias")).relu()
    return numeric.linear(hidden, w["fc2.weight"], w.get("fc2.bias"))


@mixer("conv1d")
def channel_conv(setting: Setting, pooled, *, padding, circular=False):
    """A 1D cross-correlation along the channels of a [B, C] vector, zero or circular padding."""
    w = setting.weights
    out = numeric.conv1d(pooled.unsqueeze(1), w["conv.weight"], w.get("conv.bias"), int(padding), bool(circular))
    return out.squeeze(1)


@mixer("conv2d")
def spatial_conv(setting: Setting, maps, *, batchnorm=False):
    """A k x k convolution of the [B, 2, H, W] pooled maps to [B, 1, H, W] (padding k // 2), optional BatchNorm."""
    w = setting.weights
    kernel = w["conv.weight"]
    logits = numeric.conv2d(maps, kernel, w.get("conv.bias"), kernel.shape[-1] // 2)
    if batchnorm:
        logits = batch_norm(logits, w["bn.weight"], w["bn.bias"], setting.training)
    return logits


def batch_norm(x, weight, bias, training: bool):
    """BatchNorm2d: batch statistics in train mode; a fresh layer's running statistics (0, 1) in eval mode."""
    if training:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(0, 2, 3), keepdim=True)
        x = (x - mean) / (var + BATCHNORM_EPS).sqrt()
    else:
        x = x / math.sqrt(1 + BATCHNORM_EPS)
    per_channel = (1, -1, 1, 1)
    return x * weight.reshape(*per_channel) + bias.reshape(*per_channel)


# ---------------------------------------------------------------- gates
@gate("channel", needs=("pools", "mixer"))
def channel_gate(setting: Setting, x):
    """x * sigmoid(sum over the recipe's pools of mixer(pool over H, W)), one gate per channel."""
    logits = None
    for name in setting.recipe.pools:
        term = setting.mix(setting.pool(name, x, (2, 3)))
        logits = term if logits is None else logits + term
    return x * logits.sigmoid()[:, :, None, None]


@gate("spatial", needs=("pools", "mixer"))
def spatial_gate(setting: Setting, x, *, reverse_pools=False):
    """x * sigmoid(mixer([pools over channels])), one gate per pixel; ``reverse_pools`` stacks them the other way."""
    names = setting.recipe.pools[::-1] if reverse_pools else setting.recipe.pools
    maps = numeric.cat([setting.pool(name, x, 1, keepdim=True) for name in names], 1)
    return x * setting.mix(maps).sigmoid()


@gate("sequence", needs=("stages",))
def sequence(setting: Setting, x, *, residual=False):
    """The block's stages applied in order, each with its own canonical weights; ``residual`` adds the input."""
    out = x
    for stage_name in setting.block.stages:
        stage = setting.spec.block(stage_name)
        stage_env = stage.env(
            {p.name: setting.env[p.name] for p in stage.params},
            {v.name: setting.env[v.name] for v in stage.variants if v.name in setting.env},
        )
        prefix = stage_name + "."
        stage_weights = {k[len(prefix):]: v for k, v in setting.weights.items() if k.startswith(prefix)}
        out = forward(setting.spec, stage, stage_env, stage_weights, out, setting.training)
    return x + out if residual else out


@gate("coordinate")
def coordinate_gate(setting: Setting, x):
    """x * a_w * a_h: averages along W (one per row) and along H (one per column) go through one
    1x1 convolution, BatchNorm and h-swish as a strip of H + W positions, then a 1x1 convolution and
    a sigmoid each give a gate per row and per column (Hou, Zhou, Feng, CVPR 2021)."""
    w = setting.weights
    height = x.shape[2]
    rows = x.mean(dim=3, keepdim=True)  # [B, C, H, 1]
    columns = x.mean(dim=2, keepdim=True).permute(0, 1, 3, 2)  # [B, C, W, 1]
    strip = numeric.conv2d(numeric.cat([rows, columns], 2), w["conv1.weight"], w.get("conv1.bias"))
    strip = batch_norm(strip, w["bn1.weight"], w["bn1.bias"], setting.training)
    strip = strip * (strip + 3).clamp(0, 6) / 6  # h-swish
    per_row, per_column = strip.split([height, strip.shape[2] - height], 2)
    gate_rows = numeric.conv2d(per_row, w["conv_h.weight"], w.get("conv_h.bias")).sigmoid()
    gate_columns = numeric.conv2d(per_column.permute(0, 1, 3, 2), w["conv_w.weight"], w.get("conv_w.bias")).sigmoid()
    return x * gate_columns * gate_rows


@gate("energy")
def energy_gate(setting: Setting, x, *, e_lambda):
    """x * sigmoid(d / (4 (v + lambda)) + 1/2): each position's squared distance d to its channel's
    spatial mean, over the channel's variance v = sum(d) / (H W - 1) (Yang et al., ICML 2021)."""
    positions = x.shape[2] * x.shape[3]
    distance = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
    variance = distance.sum(dim=(2, 3), keepdim=True) / (positions - 1)
    return x * (distance / (4 * (variance + e_lambda)) + 0.5).sigmoid()
