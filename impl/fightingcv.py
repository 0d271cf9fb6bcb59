"""attncert adapter for fightingcv-attention (External-Attention-pytorch, the PyPI package
``fightingcv-attention``, module ``fightingcv_attention``).

Blocks (line numbers: fightingcv-attention 1.0.0, fightingcv_attention/attention/):

- ``se``: ``SEAttention(channel=in_channel, reduction=ratio)`` (SEAttention.py:8-39): the documents' SE,
  no variant.
- ``eca``: ``ECAAttention()`` (ECAAttention.py:9-37) with its default ``kernel_size=3``: the class takes no
  channel count, so in_channel, b and gamma are not used. Declared: ``fixed_kernel=3`` (line 11,
  ``def __init__(self, kernel_size=3)``) and ``bias=True`` (line 14, ``nn.Conv1d(1, 1, ...)`` with
  Conv1d's default bias).
- ``channel_attention`` / ``spatial_attention``: CBAM.py's ``ChannelAttention`` (lines 8-26) and
  ``SpatialAttention`` (lines 28-40) return the gate (shape [B, C, 1, 1] and [B, 1, H, W]), not the gated
  input; the adapter applies each the way the library's own CBAMBlock does (lines 69-70,
  ``out = x * self.ca(x)``, ``out = out * self.sa(out)``). Declared for spatial attention:
  ``conv_bias=True`` (line 31, ``nn.Conv2d(2, 1, kernel_size=..., padding=kernel_size // 2)`` with the
  default bias). Channel attention has no variant (bias-free 1x1 convs, hidden C // reduction).
- ``cbam``: ``CBAMBlock(channel=in_channel, reduction=ratio, kernel_size=kernel_size)`` (lines 44-71).
  Declared: ``conv_bias=True`` (as above) and ``residual=True`` (lines 68 and 71, ``residual = x`` ...
  ``return out + residual``).
- ``coord_attention``: ``CoordAtt(inp=in_channel, oup=in_channel, reduction=reduction)``
  (CoordAttention.py:21-55), the authors' code with its unused import removed: no variant. Its
  parameters register in the canonical order, so no loader is needed.
- ``simam``: ``SimAM(e_lambda=e_lambda)`` (SimAM.py:5-30), the authors' simam_module renamed: no
  variant (its unused ``channels`` argument is left at None).
- ``selective_kernel``: ``SKAttention(channel=in_channel, kernels=[3, 5, 7, 9][:M], reduction=r,
  group=G, L=L)`` (SKAttention.py:10-56). Declared: ``dense=True`` (line 18: each path is a dense
  k x k convolution with padding k // 2, not a dilated 3x3), ``bias=True`` (line 18, Conv2d's default
  bias; lines 23 and 26, nn.Linear's) and ``fuse_norm=False`` (line 44, ``Z = self.fc(S)``: no
  BatchNorm and no ReLU after the fuse layer). The fuse width max(L, C // reduction) (line 13), the
  paths' BatchNorm and ReLU (lines 19-20) and the softmax over the paths (lines 27 and 52) are the
  paper's. load_selective_kernel reshapes the fuse layer's kernel to its Linear and splits the
  select layer's path-major rows among its per-path Linears ``fcs.{m}``.
- ``bam``: ``BAMBlock(channel=in_channel, reduction=reduction_ratio, dia_val=dilation_val)``
  (BAM.py:57-90). Declared: ``combine="sum"`` (line 82, ``sigmoid(sa_out + ca_out)``, the paper's
  sum where the authors multiply) and DOMAIN ``num_layers == 3 and dilation_conv_num == 3``: the
  class passes neither, and its ChannelAttention and SpatialAttention default to three hidden
  layers (lines 11 and 35). Not declarable, so it fails: its dilated convolutions pad by 1 whatever
  the dilation (line 42), so each shrinks the map by 2 (dilation - 1) and ``expand_as`` (line 49)
  works only where the map ends 1 x 1 (7 x 7 inputs at dia_val 2, its own example). Its parameters
  register in the canonical order (channel branch, then spatial), so no loader is needed.
- ``triplet_attention``: ``TripletAttention()`` (TripletAttention.py:36-56), the authors' code as
  it is: DOMAIN ``kernel_size in (7,)`` (line 27 fixes 7); the canonical names, no loader.
- ``shuffle_attention``: ``ShuffleAttention(channel=in_channel, G=groups)`` (ShuffleAttention.py:
  10-73): no variant (its ``reduction`` is unused); the canonical order. Its ``x.view`` (line 52)
  raises on channels_last and other inputs that cannot be viewed (the authors use reshape).
- ``sge``: ``SpatialGroupEnhance(groups=groups)`` (SGE.py:8-50): no variant (its bias starts at
  0, the authors' at 1: initial values only). Its ``x.view`` (line 36) raises as above, as the
  authors' own code does.

The 1x1 convolutions take the canonical linear weights reshaped to [out, in, 1, 1].
"""

from _adapter_support import import_library as _import_library, load_by_names as _load
from torch import nn


(_se_attention, _eca_attention, _cbam, _coordinate, _simam, _selective_kernel, _bam, _triplet, _shuffle,
 _group_enhance) = _import_library(__file__, "fightingcv_attention",
    "fightingcv-attention",
    (
        "fightingcv_attention.attention.SEAttention",
        "fightingcv_attention.attention.ECAAttention",
        "fightingcv_attention.attention.CBAM",
        "fightingcv_attention.attention.CoordAttention",
        "fightingcv_attention.attention.SimAM",
        "fightingcv_attention.attention.SKAttention",
        "fightingcv_attention.attention.BAM",
        "fightingcv_attention.attention.TripletAttention",
        "fightingcv_attention.attention.ShuffleAttention",
        "fightingcv_attention.attention.SGE",
    ),
)

VARIANTS = {
    "eca": {"fixed_kernel": 3, "bias": True},
    "spatial_attention": {"conv_bias": True},
    "cbam": {"conv_bias": True, "residual": True},
    "selective_kernel": {"dense": True, "bias": True, "fuse_norm": False},
    "bam": {"combine": "sum"},
}

DOMAIN = {
    "bam": "num_layers == 3 and dilation_conv_num == 3",
    "triplet_attention": "kernel_size in (7,)",
}


class Gated(nn.Module):
    """x * gate(x): how fightingcv's CBAMBlock applies its ChannelAttention and SpatialAttention."""

    def __init__(self, gate: nn.Module):
        super().__init__()
        self.gate = gate

    def forward(self, x):
        return x * self.gate(x)


def se(*, in_channel: int, ratio: int = 4):
    return _se_attention.SEAttention(channel=in_channel, reduction=ratio)


def eca(*, in_channel: int, b: int = 1, gamma: int = 2):
    return _eca_attention.ECAAttention()


def channel_attention(*, in_channel: int, ratio: int = 4):
    return Gated(_cbam.ChannelAttention(channel=in_channel, reduction=ratio))


def spatial_attention(*, kernel_size: int = 7):
    return Gated(_cbam.SpatialAttention(kernel_size=kernel_size))


def cbam(*, in_channel: int, ratio: int = 4, kernel_size: int = 7):
    return _cbam.CBAMBlock(channel=in_channel, reduction=ratio, kernel_size=kernel_size)


def coord_attention(*, in_channel: int, reduction: int = 32):
    return _coordinate.CoordAtt(inp=in_channel, oup=in_channel, reduction=reduction)


def simam(*, e_lambda: float = 1e-4):
    return _simam.SimAM(e_lambda=e_lambda)


def selective_kernel(*, in_channel: int, M: int = 2, G: int = 32, r: int = 16, L: int = 32):
    return _selective_kernel.SKAttention(channel=in_channel, kernels=[3, 5, 7, 9][:M], reduction=r, group=G, L=L)


def bam(*, in_channel: int, reduction_ratio: int = 16, num_layers: int = 1, dilation_conv_num: int = 2,
        dilation_val: int = 4):
    return _bam.BAMBlock(channel=in_channel, reduction=reduction_ratio, dia_val=dilation_val)


def triplet_attention(*, kernel_size: int = 7):
    return _triplet.TripletAttention()


def shuffle_attention(*, in_channel: int, groups: int = 64):
    return _shuffle.ShuffleAttention(channel=in_channel, G=groups)


def sge(*, groups: int = 64):
    return _group_enhance.SpatialGroupEnhance(groups=groups)


# ---------------------------------------------------------------- weight transfer: names only
_MLP = {"fc1.weight": "se.0.weight", "fc1.bias": "se.0.bias", "fc2.weight": "se.2.weight", "fc2.bias": "se.2.bias"}
_CONV = {"conv.weight": "conv.weight", "conv.bias": "conv.bias"}


def load_se(module, state):
    _load(module, state, {"fc1.weight": "fc.0.weight", "fc1.bias": "fc.0.bias",
                          "fc2.weight": "fc.2.weight", "fc2.bias": "fc.2.bias"})


def load_eca(module, state):
    _load(module, state, _CONV)


def load_channel_attention(module, state):
    _load(module, state, {k: f"gate.{v}" for k, v in _MLP.items()})


def load_spatial_attention(module, state):
    _load(module, state, {k: f"gate.{v}" for k, v in _CONV.items()})


def load_cbam(module, state):
    names = {f"channel_attention.{k}": f"ca.{v}" for k, v in _MLP.items()}
    names.update({f"spatial_attention.{k}": f"sa.{v}" for k, v in _CONV.items()})
    _load(module, state, names)


def load_selective_kernel(module, state):
    paths = len(module.convs)
    names = {}
    for m in range(paths):
        names.update({f"paths.{m}.conv.weight": f"convs.{m}.conv.weight", f"paths.{m}.conv.bias": f"convs.{m}.conv.bias",
                      f"paths.{m}.bn.weight": f"convs.{m}.bn.weight", f"paths.{m}.bn.bias": f"convs.{m}.bn.bias"})
    names.update({"attn.fc_reduce.weight": "fc.weight", "attn.fc_reduce.bias": "fc.bias"})
    # the select layer's M C rows are path-major: rows m C .. (m + 1) C are fcs[m]
    split = dict(state)
    for kind in ("weight", "bias"):
        for m in range(paths):
            names[f"attn.fc_select.{m}.{kind}"] = f"fcs.{m}.{kind}"
        if f"attn.fc_select.{kind}" in split:
            for m, part in enumerate(split.pop(f"attn.fc_select.{kind}").chunk(paths, 0)):
                split[f"attn.fc_select.{m}.{kind}"] = part
    _load(module, split, names)
