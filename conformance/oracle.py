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
GROUPNORM_EPS = 1e-5  # torch.nn.GroupNorm's default (SA-Net's)
SGE_EPS = 1e-5  # Spatial Group-wise Enhance adds it to the standard deviation, not to the variance


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
    """BatchNorm over every dimension but the channels (dim 1): BatchNorm1d on [B, n], BatchNorm2d on
    [B, n, H, W]. Batch statistics (biased variance) in train mode; a fresh layer's running
    statistics (0, 1) in eval mode."""
    rank = len(x.shape)
    dims = (0, *range(2, rank))
    if training:
        x = _normalised(x, dims, BATCHNORM_EPS)
    else:
        x = x / math.sqrt(1 + BATCHNORM_EPS)
    per_channel = (1, -1) + (1,) * (rank - 2)
    return x * weight.reshape(*per_channel) + bias.reshape(*per_channel)


def _normalised(x, dims, eps: float):
    """(x - mean) / sqrt(biased variance + eps) over ``dims``: the statistics of every normalisation layer.

    Its exact value lies within sqrt(n - 1) of zero, but an implementation's need not: one that
    computes x * rstd - mean * rstd (torch's GroupNorm) rounds terms of size |x| rstd, up to
    |x| / sqrt(eps), so no interval is claimed here (an ill-conditioned case gets a wide bound).
    Over a single value its derivative is exactly zero, which implementations compute from terms
    1 / sqrt(eps) times larger: the tracker takes the case out of the gradient checks."""
    if isinstance(x, Bounded) and math.prod(x.shape[d] for d in dims) == 1:
        numeric.note_degenerate("a normalisation over a single value")
    mean = x.mean(dim=dims, keepdim=True)
    centred = x - mean
    variance = centred.pow(2).mean(dim=dims, keepdim=True)
    if isinstance(x, Bounded):
        # torch's kernels may take the variance as E[x^2] - E[x]^2 (GroupNorm on a channels_last
        # input): its rounding grows with mean^2 / variance, and a correct Shuffle Attention's two
        # layouts differed by 1.03 times the centred formula's bound
        naive = x.pow(2).mean(dim=dims, keepdim=True) - mean.pow(2)
        variance = Bounded(variance.v, torch.maximum(variance.e, naive.e), variance.dtype, variance.rounds_as)
    return centred / (variance + eps).sqrt()


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


@gate("selective_kernel")
def selective_kernel_gate(setting: Setting, x, *, paths, groups, split_input=False, dense=False, fuse_norm=True):
    """V = sum_m a_m U_m (Li, Wang, Hu, Yang, CVPR 2019). Path m: a 3x3 convolution with ``groups``
    groups, dilation and padding m + 1 (``dense``: a dense (2m + 3) x (2m + 3) kernel, padding m + 1),
    then BatchNorm and ReLU: U_m. The spatial mean s of sum_m U_m goes through the fuse layer,
    z = ReLU(BN(W_reduce s)) (without ``fuse_norm``: z = W_reduce s), and the select layer W_select z,
    whose M C rows are read path-major (row m C + c: path m, channel c); a softmax over the paths
    gives each channel's shares a_m. ``split_input``: path m sees only the m-th of M equal slices of
    the input's channels (timm). Biases wherever the weights have them."""
    w = setting.weights
    batch, channels = x.shape[0], x.shape[1]
    width = channels // paths
    outputs = []
    for m in range(paths):
        source = x[:, m * width:(m + 1) * width] if split_input else x
        conv = numeric.conv2d(source, w[f"paths.{m}.conv.weight"], w.get(f"paths.{m}.conv.bias"), m + 1,
                              1 if dense else m + 1, groups)
        outputs.append(batch_norm(conv, w[f"paths.{m}.bn.weight"], w[f"paths.{m}.bn.bias"], setting.training).relu())
    total = outputs[0]
    for u in outputs[1:]:
        total = total + u
    reduce, select = w["attn.fc_reduce.weight"], w["attn.fc_select.weight"]
    z = numeric.linear(total.mean(dim=(2, 3)), reduce.reshape(reduce.shape[0], -1), w.get("attn.fc_reduce.bias"))
    if fuse_norm:
        z = batch_norm(z, w["attn.bn.weight"], w["attn.bn.bias"], setting.training).relu()
    logits = numeric.linear(z, select.reshape(select.shape[0], -1), w.get("attn.fc_select.bias"))
    shares = numeric.softmax(logits.reshape(batch, paths, channels), 1)
    out = None
    for m, u in enumerate(outputs):
        term = u * shares[:, m][:, :, None, None]
        out = term if out is None else out + term
    return out


def _context_transform(weights, prefix: str, context, eps: float):
    """1x1 conv (C -> P, bias), LayerNorm over the P values (biased variance), ReLU, 1x1 conv (P -> C, bias)."""
    first, last = weights[prefix + "0.weight"], weights[prefix + "3.weight"]
    hidden = numeric.linear(context, first.reshape(first.shape[0], -1), weights[prefix + "0.bias"])
    norm_weight, norm_bias = weights[prefix + "1.weight"], weights[prefix + "1.bias"]
    hidden = _normalised(hidden, (1,), eps) * norm_weight.reshape(1, -1) + norm_bias.reshape(1, -1)
    return numeric.linear(hidden.relu(), last.reshape(last.shape[0], -1), weights[prefix + "3.bias"])


@gate("global_context")
def global_context_gate(setting: Setting, x, *, pooling="att", fusion="channel_add", layer_norm_eps=1e-5):
    """GC block (Cao et al., ICCVW 2019; the authors' ContextBlock). The context: with ``pooling``
    att, the pixels weighted by a softmax over all H W positions of a 1x1 convolution's logits (its
    bias cancels in the softmax); with avg, their mean. Each fusion's transform is a 1x1 convolution
    to P, LayerNorm over the P values, ReLU, a 1x1 convolution back to C; channel_mul multiplies by
    its sigmoid, then channel_add adds it (``fusion`` both: the two in that order)."""
    w = setting.weights
    flat = x.flatten(2)  # [B, C, H W]
    if pooling == "att":
        weights = numeric.softmax(numeric.conv2d(x, w["conv_mask.weight"], w["conv_mask.bias"]).flatten(2), 2)
        context = (flat * weights).sum(dim=2)  # [B, C]
    else:
        context = flat.mean(dim=2)
    out = x
    if fusion in ("channel_mul", "both"):
        out = out * _context_transform(w, "channel_mul_conv.", context, layer_norm_eps).sigmoid()[:, :, None, None]
    if fusion in ("channel_add", "both"):
        out = out + _context_transform(w, "channel_add_conv.", context, layer_norm_eps)[:, :, None, None]
    return out


@gate("bottleneck")
def bottleneck_gate(setting: Setting, x, *, num_layers, dilation_conv_num, dilation, combine="product"):
    """BAM (Park, Woo, Lee, Kweon, BMVC 2018; the authors' MODELS/bam.py): x (1 + sigmoid(M)).
    Channel logits [B, C]: the spatial mean, [Linear, BatchNorm1d, ReLU] x num_layers, Linear.
    Spatial logits [B, 1, H, W]: 1x1 convolution to the hidden width, BatchNorm, ReLU, [3x3
    convolution with dilation and padding ``dilation``, BatchNorm, ReLU] x dilation_conv_num, 1x1
    convolution to one map. M = channel x spatial (``combine`` sum: channel + spatial, the paper's)."""
    w = setting.weights
    gate_c, gate_s = "channel_att.gate_c.", "spatial_att.gate_s."
    hidden = x.mean(dim=(2, 3))
    for i in range(num_layers):
        hidden = numeric.linear(hidden, w[f"{gate_c}gate_c_fc_{i}.weight"], w[f"{gate_c}gate_c_fc_{i}.bias"])
        hidden = batch_norm(hidden, w[f"{gate_c}gate_c_bn_{i + 1}.weight"], w[f"{gate_c}gate_c_bn_{i + 1}.bias"],
                            setting.training).relu()
    channel = numeric.linear(hidden, w[f"{gate_c}gate_c_fc_final.weight"], w[f"{gate_c}gate_c_fc_final.bias"])
    maps = numeric.conv2d(x, w[f"{gate_s}gate_s_conv_reduce0.weight"], w[f"{gate_s}gate_s_conv_reduce0.bias"])
    maps = batch_norm(maps, w[f"{gate_s}gate_s_bn_reduce0.weight"], w[f"{gate_s}gate_s_bn_reduce0.bias"], setting.training).relu()
    for i in range(dilation_conv_num):
        maps = numeric.conv2d(maps, w[f"{gate_s}gate_s_conv_di_{i}.weight"], w[f"{gate_s}gate_s_conv_di_{i}.bias"],
                              dilation, dilation)
        maps = batch_norm(maps, w[f"{gate_s}gate_s_bn_di_{i}.weight"], w[f"{gate_s}gate_s_bn_di_{i}.bias"], setting.training).relu()
    spatial = numeric.conv2d(maps, w[f"{gate_s}gate_s_conv_final.weight"], w[f"{gate_s}gate_s_conv_final.bias"])
    channel = channel[:, :, None, None]
    logits = channel * spatial if combine == "product" else channel + spatial
    return x * (logits.sigmoid() + 1)


@gate("triplet")
def triplet_gate(setting: Setting, x, *, no_spatial=False):
    """Triplet attention (Misra et al., WACV 2021; the authors' TripletAttention): x times the mean
    of three gates, each sigmoid(BN(k x k conv([max, mean] over one axis))) of a permuted input:
    cw on [B, H, C, W] (pools H, the kernel's rows run over C), hc on [B, W, H, C] (pools W, rows
    over H, columns over C), hw on x (pools C). ``no_spatial``: without hw, the mean of two."""
    w = setting.weights

    def gate_of(name: str, t):
        maps = numeric.cat([t.amax(dim=1, keepdim=True), t.mean(dim=1, keepdim=True)], 1)
        kernel = w[f"{name}.conv.conv.weight"]
        logits = numeric.conv2d(maps, kernel, None, kernel.shape[-1] // 2)
        return batch_norm(logits, w[f"{name}.conv.bn.weight"], w[f"{name}.conv.bn.bias"], setting.training).sigmoid()

    gates = gate_of("cw", x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3) + gate_of("hc", x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
    if no_spatial:
        return x * (gates / 2)
    return x * ((gates + gate_of("hw", x)) / 3)


@gate("shuffle")
def shuffle_gate(setting: Setting, x, *, groups):
    """Shuffle attention (Zhang, Yang, ICASSP 2021; the authors' sa_layer). The channels form
    ``groups`` groups, each split into halves of n = C / (2 groups): the first half times
    sigmoid(cweight * its spatial mean + cbias), per channel; the second times sigmoid(sweight *
    GN + sbias), per pixel, with GN each channel normalised over H, W (biased variance) times
    gn.weight plus gn.bias. The halves are joined back per group, then the channels shuffled with
    2 groups: output channel 2 j + i is channel i C / 2 + j."""
    w = setting.weights
    batch, channels, height, width = x.shape
    half = channels // (2 * groups)
    rows = x.reshape(batch * groups, 2 * half, height, width)
    first, second = rows.split([half, half], 1)
    channel_gate = (first.mean(dim=(2, 3), keepdim=True) * w["cweight"] + w["cbias"]).sigmoid()
    normed = _normalised(second, (2, 3), GROUPNORM_EPS) * w["gn.weight"].reshape(1, -1, 1, 1) + w["gn.bias"].reshape(1, -1, 1, 1)
    spatial_gate = (normed * w["sweight"] + w["sbias"]).sigmoid()
    joined = numeric.cat([first * channel_gate, second * spatial_gate], 1).reshape(batch, channels, height, width)
    return joined.reshape(batch, 2, channels // 2, height, width).permute(0, 2, 1, 3, 4).reshape(batch, channels, height, width)


@gate("group_enhance")
def group_enhance_gate(setting: Setting, x, *, groups, unbiased=True):
    """Spatial Group-wise Enhance (Li, Hu, Yang 2019; the authors' SpatialGroupEnhance). In each of
    ``groups`` channel groups, every position's similarity to the group's mean vector (the sum over
    the group's channels of x times the channel's spatial mean) is normalised over the positions by
    its mean and standard deviation plus 1e-5 (divisor H W - 1; without ``unbiased``: H W), scaled
    and shifted by the group's weight and bias: one sigmoid gate per sample, group and position."""
    w = setting.weights
    batch, channels, height, width = x.shape
    positions = height * width
    rows = x.reshape(batch * groups, channels // groups, height, width)
    similarity = (rows * rows.mean(dim=(2, 3), keepdim=True)).sum(dim=1).reshape(batch, groups, positions)
    centred = similarity - similarity.mean(dim=2, keepdim=True)
    std = (centred.pow(2).sum(dim=2, keepdim=True) / (positions - 1 if unbiased else positions)).sqrt()
    logits = (centred / (std + SGE_EPS)).reshape(batch, groups, height, width) * w["weight"] + w["bias"]
    return (rows * logits.sigmoid().reshape(batch * groups, 1, height, width)).reshape(batch, channels, height, width)
