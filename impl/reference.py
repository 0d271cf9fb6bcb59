"""attncert's reference implementation of SE, ECA, CBAM, Coordinate Attention and SimAM: the spec, written plainly.

Submodule names and registration order follow the documents' classes (so torchstat rows match
their tables) and the canonical parameter names of the plug-in contract (README, "Certify your own implementation").

- SE: Hu et al., Squeeze-and-Excitation Networks, https://arxiv.org/abs/1709.01507
- ECA: Wang et al., ECA-Net, https://arxiv.org/abs/1910.03151
- CBAM: Woo et al., CBAM, https://arxiv.org/abs/1807.06521
- Coordinate attention: Hou et al., CVPR 2021, https://arxiv.org/abs/2103.02907 (names and order as
  the authors' CoordAtt, so its state dict loads as it is)
- SimAM: Yang et al., ICML 2021, https://proceedings.mlr.press/v139/yang21o.html
"""

import math

import torch
from torch import nn


def eca_kernel_size(in_channel: int, b: int = 1, gamma: int = 2) -> int:
    """t = trunc(|(log2 C + b) / gamma|); an even t becomes the next odd number."""
    t = int(abs((math.log2(in_channel) + b) / gamma))
    return t if t % 2 else t + 1


class SqueezeExcitation(nn.Module):
    """Global average pool -> FC (C -> C//ratio) -> ReLU -> FC (-> C) -> sigmoid, times the input."""

    def __init__(self, in_channel: int, ratio: int = 4):
        super().__init__()
        if in_channel // ratio < 1:
            raise ValueError(f"in_channel // ratio must be >= 1, got {in_channel} // {ratio}")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.avg_pool(x).flatten(1)
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(squeezed))))
        return x * gate[:, :, None, None]


class EfficientChannelAttention(nn.Module):
    """Global average pool -> 1D conv across channels (adaptive odd kernel) -> sigmoid, times the input."""

    def __init__(self, in_channel: int, b: int = 1, gamma: int = 2):
        super().__init__()
        kernel_size = eca_kernel_size(in_channel, b, gamma)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.avg_pool(x).flatten(1).unsqueeze(1)  # [B, 1, C]: channels as a sequence
        gate = self.sigmoid(self.conv(squeezed)).squeeze(1)
        return x * gate[:, :, None, None]


class ChannelAttention(nn.Module):
    """CBAM's channel attention: a shared MLP over the max- and average-pooled vectors, summed, sigmoid."""

    def __init__(self, in_channel: int, ratio: int = 4):
        super().__init__()
        if in_channel // ratio < 1:
            raise ValueError(f"in_channel // ratio must be >= 1, got {in_channel} // {ratio}")
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def mlp(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(pooled.flatten(1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.mlp(self.max_pool(x)) + self.mlp(self.avg_pool(x)))
        return x * gate[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: [max, mean] over channels -> k x k conv -> sigmoid, times the input."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * self.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Channel attention, then spatial attention on its output."""

    def __init__(self, in_channel: int, ratio: int = 4, kernel_size: int = 7):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial_attention(self.channel_attention(x))


class CoordinateAttention(nn.Module):
    """Averages along W and along H, one shared 1x1 conv + BatchNorm + h-swish over the H + W strip,
    then a sigmoid gate per row and one per column; width max(8, C // reduction), biases on.

    The averages are means over one axis, not the authors' AdaptiveAvgPool2d((None, 1)) / ((1, None)):
    the same values, but exported (ONNX) or compiled (inductor, dynamic shapes) an adaptive pool
    keeps the traced height and width and is wrong, or fails, at every other size."""

    def __init__(self, in_channel: int, reduction: int = 32):
        super().__init__()
        hidden = max(8, in_channel // reduction)
        self.conv1 = nn.Conv2d(in_channel, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(hidden, in_channel, 1)
        self.conv_w = nn.Conv2d(hidden, in_channel, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = x.shape[2]
        strip = torch.cat([x.mean(dim=3, keepdim=True), x.mean(dim=2, keepdim=True).transpose(2, 3)], dim=2)  # [B, C, H + W, 1]
        strip = self.act(self.bn1(self.conv1(strip)))
        per_row, per_column = torch.split(strip, [height, strip.shape[2] - height], dim=2)
        return x * self.conv_w(per_column.transpose(2, 3)).sigmoid() * self.conv_h(per_row).sigmoid()


class SimAM(nn.Module):
    """Parameter-free: each position's gate is sigmoid of its inverse minimal energy, from its squared
    distance to the channel's spatial mean over the channel's variance (divided by H W - 1) plus lambda."""

    def __init__(self, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = x.shape[2] * x.shape[3]
        distance = (x - x.mean(dim=(2, 3), keepdim=True)).square()
        variance = distance.sum(dim=(2, 3), keepdim=True) / (positions - 1)
        return x * torch.sigmoid(distance / (4 * (variance + self.e_lambda)) + 0.5)


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


def coord_attention(*, in_channel: int, reduction: int = 32) -> nn.Module:
    return CoordinateAttention(in_channel, reduction)


def simam(*, e_lambda: float = 1e-4) -> nn.Module:
    return SimAM(e_lambda)
