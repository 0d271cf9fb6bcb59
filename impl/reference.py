"""attncert's reference implementation of every block of the spec, written plainly: SE, ECA, CBAM,
Coordinate Attention, SimAM, Selective Kernel, Global Context, BAM, Triplet Attention, Shuffle
Attention and Spatial Group-wise Enhance.

Submodule names and registration order follow the documents' classes (so torchstat rows match
their tables) and the canonical parameter names of the plug-in contract (README, "Certify your own implementation").

- SE: Hu et al., Squeeze-and-Excitation Networks, https://arxiv.org/abs/1709.01507
- ECA: Wang et al., ECA-Net, https://arxiv.org/abs/1910.03151
- CBAM: Woo et al., CBAM, https://arxiv.org/abs/1807.06521
- Coordinate attention: Hou et al., CVPR 2021, https://arxiv.org/abs/2103.02907 (names and order as
  the authors' CoordAtt, so its state dict loads as it is)
- SimAM: Yang et al., ICML 2021, https://proceedings.mlr.press/v139/yang21o.html
- Selective Kernel: Li, Wang, Hu, Yang, CVPR 2019, https://arxiv.org/abs/1903.06586 (the authors'
  release is Caffe; names as timm's SelectiveKernel, whose state dict loads as it is without its
  input split)
- Global Context: Cao et al., ICCVW 2019, https://arxiv.org/abs/1904.11492 (names and order as the
  authors' ContextBlock)
- BAM: Park, Woo, Lee, Kweon, BMVC 2018, https://arxiv.org/abs/1807.06514 (names and order as the
  authors' BAM; the spatial mean where their code pools an H x H window)
- Triplet Attention: Misra et al., WACV 2021, https://arxiv.org/abs/2010.03045 (names and order as
  the authors' TripletAttention)
- Shuffle Attention: Zhang, Yang, ICASSP 2021, https://arxiv.org/abs/2102.00240 (names and order as
  the authors' sa_layer)
- Spatial Group-wise Enhance: Li, Hu, Yang 2019, https://arxiv.org/abs/1905.09646 (names as the
  authors' SpatialGroupEnhance)

Global statistics are means over axes, never adaptive pools of another output size or kernels
sized from the input: exported (ONNX) or compiled with dynamic shapes, those keep the traced size.
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


class _PathConv(nn.Module):
    """One Selective Kernel path: a grouped 3x3 convolution with dilation d (a 2d + 1 kernel's reach), BatchNorm, ReLU."""

    def __init__(self, channels: int, groups: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class _SelectPaths(nn.Module):
    """Selective Kernel's fuse and select: the paths' summed map averaged over space, a 1x1 convolution
    to the fuse width with BatchNorm and ReLU, a 1x1 convolution to one logit per path and channel,
    a softmax over the paths."""

    def __init__(self, channels: int, paths: int, hidden: int):
        super().__init__()
        self.paths = paths
        self.fc_reduce = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.relu = nn.ReLU()
        self.fc_select = nn.Conv2d(hidden, channels * paths, 1, bias=False)

    def forward(self, summed: torch.Tensor) -> torch.Tensor:
        squeezed = summed.mean(dim=(2, 3), keepdim=True)
        logits = self.fc_select(self.relu(self.bn(self.fc_reduce(squeezed))))  # [B, M C, 1, 1], path-major
        return logits.reshape(logits.shape[0], self.paths, -1, 1, 1).softmax(dim=1)  # [B, M, C, 1, 1]


class SelectiveKernel(nn.Module):
    """M paths of grouped 3x3 convolutions with dilation 1 .. M (kernels 3, 5, 7, ... as dilated 3x3),
    each BatchNorm + ReLU; per channel a softmax over the paths, from their summed map, mixes them.
    Fuse width max(C // r, L)."""

    def __init__(self, in_channel: int, M: int = 2, G: int = 32, r: int = 16, L: int = 32):
        super().__init__()
        if in_channel % G:
            raise ValueError(f"in_channel must be a multiple of G (grouped convolutions), got {in_channel} and {G}")
        self.paths = nn.ModuleList(_PathConv(in_channel, G, m + 1) for m in range(M))
        self.attn = _SelectPaths(in_channel, M, max(in_channel // r, L))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack([path(x) for path in self.paths], dim=1)  # [B, M, C, H, W]
        return (stacked * self.attn(stacked.sum(dim=1))).sum(dim=1)


class GlobalContext(nn.Module):
    """The pixels weighted by a softmax over all positions of a 1x1 convolution's logits give one
    context vector; a bottleneck (1x1 conv, LayerNorm, ReLU, 1x1 conv) of it is added to every pixel.
    Width trunc(C * ratio), as the authors' int(inplanes * ratio)."""

    def __init__(self, in_channel: int, ratio: float = 1 / 16):
        super().__init__()
        planes = int(in_channel * ratio)
        if planes < 1:
            raise ValueError(f"int(in_channel * ratio) must be >= 1, got int({in_channel} * {ratio})")
        self.conv_mask = nn.Conv2d(in_channel, 1, 1)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(in_channel, planes, 1), nn.LayerNorm([planes, 1, 1]), nn.ReLU(), nn.Conv2d(planes, in_channel, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.conv_mask(x).flatten(2).softmax(dim=2)  # [B, 1, H W]: a softmax over every position
        context = (x.flatten(2) * weights).sum(dim=2, keepdim=True).unsqueeze(3)  # [B, C, 1, 1]
        return x + self.channel_add_conv(context)


class BamChannelGate(nn.Module):
    """BAM's channel branch: the spatial mean, [Linear, BatchNorm1d, ReLU] x num_layers, Linear back to C."""

    def __init__(self, channels: int, hidden: int, num_layers: int):
        super().__init__()
        self.gate_c = nn.Sequential()
        width = channels
        for i in range(num_layers):
            self.gate_c.add_module(f"gate_c_fc_{i}", nn.Linear(width, hidden))
            self.gate_c.add_module(f"gate_c_bn_{i + 1}", nn.BatchNorm1d(hidden))
            self.gate_c.add_module(f"gate_c_relu_{i + 1}", nn.ReLU())
            width = hidden
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_c(x.mean(dim=(2, 3)))[:, :, None, None]  # [B, C, 1, 1] logits


class BamSpatialGate(nn.Module):
    """BAM's spatial branch: 1x1 conv to the hidden width, BatchNorm, ReLU, [3x3 conv with dilation and
    padding dilation_val, BatchNorm, ReLU] x dilation_conv_num, 1x1 conv to one map."""

    def __init__(self, channels: int, hidden: int, dilation_conv_num: int, dilation_val: int):
        super().__init__()
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(channels, hidden, 1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(hidden))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(dilation_conv_num):
            self.gate_s.add_module(f"gate_s_conv_di_{i}", nn.Conv2d(hidden, hidden, 3, padding=dilation_val, dilation=dilation_val))
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(hidden))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_s(x)  # [B, 1, H, W] logits


class BAM(nn.Module):
    """x * (1 + sigmoid(channel logits x spatial logits)), hidden width C // reduction_ratio."""

    def __init__(self, in_channel: int, reduction_ratio: int = 16, num_layers: int = 1, dilation_conv_num: int = 2,
                 dilation_val: int = 4):
        super().__init__()
        hidden = in_channel // reduction_ratio
        if hidden < 1:
            raise ValueError(f"in_channel // reduction_ratio must be >= 1, got {in_channel} // {reduction_ratio}")
        self.channel_att = BamChannelGate(in_channel, hidden, num_layers)
        self.spatial_att = BamSpatialGate(in_channel, hidden, dilation_conv_num, dilation_val)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1 + self.sigmoid(self.channel_att(x) * self.spatial_att(x)))


class _ConvBn(nn.Module):
    """A k x k convolution of the two pooled maps to one (no bias, padding k // 2), then BatchNorm2d(1)."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class TripletGate(nn.Module):
    """sigmoid(conv + BN of [max, mean] over dim 1) of a [B, D1, D2, D3] tensor: a [B, 1, D2, D3] gate."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.conv = _ConvBn(kernel_size)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return self.sigmoid(self.conv(pooled))


class TripletAttention(nn.Module):
    """x times the mean of three gates: over (C, W) pooling H, over (H, C) pooling W, over (H, W) pooling C."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        self.cw = TripletGate(kernel_size)
        self.hc = TripletGate(kernel_size)
        self.hw = TripletGate(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_cw = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)  # [B, C, 1, W]: rows C, columns W
        gate_hc = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)  # [B, C, H, 1]: rows H, columns C
        return x * ((gate_cw + gate_hc + self.hw(x)) / 3)


class ShuffleAttention(nn.Module):
    """groups groups of C / groups channels, each split in halves: the first gated per channel from its
    spatial mean, the second per pixel from a per-channel normalisation; rejoined, then the channels
    shuffled with two groups (output channel 2 j + i is channel i C / 2 + j)."""

    def __init__(self, in_channel: int, groups: int = 64):
        super().__init__()
        if in_channel % (2 * groups):
            raise ValueError(f"in_channel must be a multiple of 2 * groups, got {in_channel} and {groups}")
        half = in_channel // (2 * groups)
        self.groups = groups
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.gn = nn.GroupNorm(half, half)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        rows = x.reshape(b * self.groups, c // self.groups, h, w)
        first, second = torch.split(rows, c // (2 * self.groups), dim=1)
        first = first * self.sigmoid(self.cweight * first.mean(dim=(2, 3), keepdim=True) + self.cbias)
        # contiguous: torch 2.13's GroupNorm backward crashes (SIGSEGV) on a channel slice of a
        # channels_last tensor when only its weight and bias need gradients
        second = second * self.sigmoid(self.sweight * self.gn(second.contiguous()) + self.sbias)
        return torch.cat([first, second], dim=1).reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class SpatialGroupEnhance(nn.Module):
    """In each of groups channel groups, each position's dot product with the group's mean vector is
    normalised over the positions (mean, standard deviation with divisor H W - 1, plus 1e-5), scaled and
    shifted per group, and its sigmoid gates the group at that position."""

    def __init__(self, groups: int = 64):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, groups, 1, 1))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        rows = x.reshape(b * self.groups, c // self.groups, h, w)
        similarity = (rows * rows.mean(dim=(2, 3), keepdim=True)).sum(dim=1).reshape(b, self.groups, h * w)
        centred = similarity - similarity.mean(dim=2, keepdim=True)
        spread = (centred.square().sum(dim=2, keepdim=True) / (h * w - 1)).sqrt()
        logits = (centred / (spread + 1e-5)).reshape(b, self.groups, h, w) * self.weight + self.bias
        return (rows * self.sigmoid(logits).reshape(b * self.groups, 1, h, w)).reshape(b, c, h, w)


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


def selective_kernel(*, in_channel: int, M: int = 2, G: int = 32, r: int = 16, L: int = 32) -> nn.Module:
    return SelectiveKernel(in_channel, M, G, r, L)


def global_context(*, in_channel: int, ratio: float = 1 / 16) -> nn.Module:
    return GlobalContext(in_channel, ratio)


def bam(*, in_channel: int, reduction_ratio: int = 16, num_layers: int = 1, dilation_conv_num: int = 2,
        dilation_val: int = 4) -> nn.Module:
    return BAM(in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val)


def triplet_attention(*, kernel_size: int = 7) -> nn.Module:
    return TripletAttention(kernel_size)


def shuffle_attention(*, in_channel: int, groups: int = 64) -> nn.Module:
    return ShuffleAttention(in_channel, groups)


def sge(*, groups: int = 64) -> nn.Module:
    return SpatialGroupEnhance(groups)
