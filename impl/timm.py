"""attncert adapter for timm's attention layers (https://github.com/huggingface/pytorch-image-models).

Blocks: ``se`` (``timm.layers.squeeze_excite.SEModule``), ``eca`` (``timm.layers.eca.EcaModule``),
``channel_attention`` / ``spatial_attention`` / ``cbam`` (``timm.layers.cbam.ChannelAttn``,
``SpatialAttn``, ``CbamModule``: the original CBAM, not the ``Light*`` variants that pool
``0.5 * (mean + max)`` into one map). timm's circular ECA, ``CecaModule``, is its own adapter:
``impl/timm_ceca.py``.

Each factory calls timm's class with its defaults, mapping only the contract's keywords:
``ratio -> rd_ratio=1/ratio``, ``b -> beta``, ``gamma -> gamma``, ``kernel_size ->
spatial_kernel_size``. timm's defaults differ from the documents in ways the spec names as
variants; they are declared in ``VARIANTS`` (line numbers: timm 1.0.31):

- se: ``bias=True`` (squeeze_excite.py:37, ``bias: bool = True``, both 1x1 convs, lines 49 and 52);
  ``hidden_divisor=8`` (squeeze_excite.py:35 ``rd_divisor=8``; line 48
  ``make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)``).
- eca: ``kernel_min=3`` (eca.py:79-80, ``kernel_size = max(t if t % 2 else t + 1, 3)``).
- channel_attention: ``hidden_divisor=1`` (cbam.py:29 ``rd_divisor=1``; line 39 rounds
  ``channels * rd_ratio`` to the nearest integer, not down as ``C // ratio`` does).
- spatial_attention: ``pool_order="mean_max"`` (cbam.py:90 stacks ``[mean, amax]``);
  ``batchnorm=True`` (cbam.py:86 ``ConvNormAct(2, 1, k, apply_act=False)``: a bias-free conv, then
  BatchNorm2d(1)).
- cbam: the two stages' options together (cbam.py:131-141).
- coord_attention (``timm.layers.coord_attn.CoordAttn``, timm >= 1.0.23; the factory maps
  ``reduction -> rd_ratio=1/reduction`` with ``se_factor=1`` so that the width is C / reduction
  before rounding): ``bias=False`` (coord_attn.py:31 ``bias: bool = False``, used by all three 1x1
  convs, lines 66 and 70-71); ``hidden_divisor=8`` (line 64, ``make_divisible(channels * rd_ratio *
  se_factor, rd_divisor, round_limit=0.)`` with ``rd_divisor=8``, line 29). Its activation
  (nn.Hardswish), BatchNorm, mean pools and sigmoid gates are the authors'. Its parameters register
  in the canonical order (conv1, bn1, conv_h, conv_w), so no loader is needed.

- selective_kernel (``timm.layers.selective_kernel.SelectiveKernel``; the factory maps ``M`` to
  ``kernel_size=[3, 5, ..]`` (dilated 3x3 paths, timm's keep_3x3), ``G -> groups``, ``r ->
  rd_ratio=1/r``; timm has no ``L``): ``split_input=True`` (selective_kernel.py:75, path m convolves
  only the m-th of M slices of the input's channels, lines 124-126 and 140-142) with DOMAIN
  ``in_channel % (M * G) == 0`` (line 125 asserts C % M == 0, and each slice's grouped convolution
  needs G | C / M); ``hidden_divisor=8`` (lines 71-73 and 136, ``make_divisible(C * rd_ratio,
  divisor=8)`` with its round_limit 0.9, no lower bound L). Its names and order are the canonical
  ones, so no loader is needed.
- global_context (``timm.layers.global_context.GlobalContext``, ``ratio -> rd_ratio``):
  ``fusion_types="channel_mul"`` (global_context.py:27-28, ``fuse_add=False, fuse_scale=True``:
  x * sigmoid(T), where the authors' default adds T); ``layer_norm_eps="1e-06"`` (lines 47 and 51,
  LayerNorm2d's eps); ``hidden_divisor=1`` (lines 44-45, ``make_divisible(C * rd_ratio, 1,
  round_limit=0.)``: the nearest integer, at least 1, where the authors truncate).

The ``load_<block>`` hooks only copy the canonical tensors onto timm's parameter names, reshaping
linear weights into 1x1 conv weights; they raise when the canonical state does not cover timm's
parameters (for instance the plain spec, which has no biases).
"""

from _adapter_support import import_library as _import_library, load_by_names as _load


_squeeze_excite, _eca, _cbam = _import_library(__file__, "timm", "timm", ("timm.layers.squeeze_excite", "timm.layers.eca", "timm.layers.cbam")
)
try:  # CoordAttn arrived in timm 1.0.23: with an older timm this adapter provides the other blocks
    (_coord_attn,) = _import_library(__file__, "timm", "timm", ("timm.layers.coord_attn",))
except ModuleNotFoundError:
    _coord_attn = None
_selective_kernel, _global_context = _import_library(__file__, "timm", "timm", (
    "timm.layers.selective_kernel", "timm.layers.global_context"))

VARIANTS = {
    "se": {"bias": True, "hidden_divisor": 8},
    "eca": {"kernel_min": 3},
    "channel_attention": {"hidden_divisor": 1},
    "spatial_attention": {"pool_order": "mean_max", "batchnorm": True},
    "cbam": {"hidden_divisor": 1, "pool_order": "mean_max", "batchnorm": True},
    "coord_attention": {"bias": False, "hidden_divisor": 8},
    "selective_kernel": {"split_input": True, "hidden_divisor": 8},
    "global_context": {"fusion_types": "channel_mul", "layer_norm_eps": "1e-06", "hidden_divisor": 1},
}

DOMAIN = {"selective_kernel": "in_channel % (M * G) == 0"}


def se(*, in_channel: int, ratio: int = 4):
    return _squeeze_excite.SEModule(in_channel, rd_ratio=1.0 / ratio)


def eca(*, in_channel: int, b: int = 1, gamma: int = 2):
    return _eca.EcaModule(channels=in_channel, gamma=gamma, beta=b)


def channel_attention(*, in_channel: int, ratio: int = 4):
    return _cbam.ChannelAttn(in_channel, rd_ratio=1.0 / ratio)


def spatial_attention(*, kernel_size: int = 7):
    return _cbam.SpatialAttn(kernel_size)


def cbam(*, in_channel: int, ratio: int = 4, kernel_size: int = 7):
    return _cbam.CbamModule(in_channel, rd_ratio=1.0 / ratio, spatial_kernel_size=kernel_size)


def selective_kernel(*, in_channel: int, M: int = 2, G: int = 32, r: int = 16, L: int = 32):
    return _selective_kernel.SelectiveKernel(in_channel, kernel_size=[3 + 2 * m for m in range(M)], groups=G, rd_ratio=1.0 / r)


def global_context(*, in_channel: int, ratio: float = 1 / 16):
    return _global_context.GlobalContext(in_channel, rd_ratio=ratio)


if _coord_attn is not None:

    def coord_attention(*, in_channel: int, reduction: int = 32):
        return _coord_attn.CoordAttn(in_channel, rd_ratio=1.0 / reduction, se_factor=1.0)


# ---------------------------------------------------------------- weight transfer: names only
_MLP = {"fc1.weight": "fc1.weight", "fc1.bias": "fc1.bias", "fc2.weight": "fc2.weight", "fc2.bias": "fc2.bias"}
_SPATIAL = {"conv.weight": "conv.conv.weight", "conv.bias": "conv.conv.bias",
            "bn.weight": "conv.bn.weight", "bn.bias": "conv.bn.bias"}


def load_se(module, state):
    _load(module, state, _MLP)


def load_eca(module, state):
    _load(module, state, {"conv.weight": "conv.weight", "conv.bias": "conv.bias"})


def load_channel_attention(module, state):
    _load(module, state, _MLP)


def load_spatial_attention(module, state):
    _load(module, state, _SPATIAL)


def load_cbam(module, state):
    names = {f"channel_attention.{k}": f"channel.{v}" for k, v in _MLP.items()}
    names.update({f"spatial_attention.{k}": f"spatial.{v}" for k, v in _SPATIAL.items()})
    _load(module, state, names)


def load_global_context(module, state):
    names = {"conv_mask.weight": "conv_attn.weight", "conv_mask.bias": "conv_attn.bias"}
    for prefix, timm_prefix in (("channel_add_conv", "mlp_add"), ("channel_mul_conv", "mlp_scale")):
        for index, layer in (("0", "fc1"), ("1", "norm"), ("3", "fc2")):
            for kind in ("weight", "bias"):
                names[f"{prefix}.{index}.{kind}"] = f"{timm_prefix}.{layer}.{kind}"
    _load(module, state, names)
