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

The 1x1 convolutions take the canonical linear weights reshaped to [out, in, 1, 1].
"""

from _adapter_support import import_library as _import_library, load_by_names as _load
from torch import nn


_se_attention, _eca_attention, _cbam, _coordinate, _simam = _import_library(__file__, "fightingcv_attention",
    "fightingcv-attention",
    (
        "fightingcv_attention.attention.SEAttention",
        "fightingcv_attention.attention.ECAAttention",
        "fightingcv_attention.attention.CBAM",
        "fightingcv_attention.attention.CoordAttention",
        "fightingcv_attention.attention.SimAM",
    ),
)

VARIANTS = {
    "eca": {"fixed_kernel": 3, "bias": True},
    "spatial_attention": {"conv_bias": True},
    "cbam": {"conv_bias": True, "residual": True},
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
