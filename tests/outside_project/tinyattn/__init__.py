"""tinyattn: a tiny attention-block package, standing in for an outside project that uses attncert.

It knows nothing about attncert: it only defines the factories of attncert's plug-in contract
(``se``, ``eca``). Its ECA deliberately clamps the kernel size to at least 3, as timm's EcaModule
does, and declares that deviation as the spec's ``kernel_min`` variant; the plain spec (the
documents' ECA, where small channel counts get k = 1) therefore fails for those sizes.
"""

import math

import torch
from torch import nn

__all__ = ["SqueezeExcite", "EfficientChannelAttention", "se", "eca", "VARIANTS"]

# Deviations from the documents' blocks that the attncert spec knows as variants.
VARIANTS = {"eca": {"kernel_min": 3}}


class SqueezeExcite(nn.Module):
    """Global average pool, C -> C // ratio -> C bottleneck without biases, sigmoid gate."""

    def __init__(self, in_channel: int, ratio: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class EfficientChannelAttention(nn.Module):
    """ECA with the adaptive odd kernel, clamped to k >= 3 (like timm)."""

    def __init__(self, in_channel: int, b: int = 1, gamma: int = 2):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = max(t if t % 2 else t + 1, 3)  # the deliberate deviation: never a 1-tap kernel
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3)).unsqueeze(1)  # [B, 1, C]
        gate = torch.sigmoid(self.conv(pooled)).squeeze(1)
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SqueezeExcite(in_channel, ratio)


def eca(*, in_channel, b, gamma):
    return EfficientChannelAttention(in_channel, b, gamma)
