"""Correct blocks with their own parameter names, in a NON-canonical registration order, plus load_<block>.

Every block stores its weights under different names and registers the expanding layer BEFORE the
reducing one (so positional transfer would put fc1's [h, C] tensor into the [C, h] slot -- with
the same element count, silently wrong). The MLP weights are stored transposed ([in, out], used as
x @ W), ECA's kernel is stored as a flat vector, the spatial kernel as [2, k, k]. Each block
therefore provides load_<block>(module, state), which maps the canonical names (the plug-in contract). A
harness must call it instead of transferring by position.
Must be accepted: same functions as the documents' blocks.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


class Excite(nn.Module):
    """[B, C] -> [B, C] logits: relu(s @ down) @ up, with up registered first."""

    def __init__(self, c, hidden):
        super().__init__()
        self.up = nn.Parameter(torch.randn(hidden, c) / math.sqrt(hidden))     # = fc2.weight.T
        self.down = nn.Parameter(torch.randn(c, hidden) / math.sqrt(c))        # = fc1.weight.T

    def forward(self, s):
        return torch.relu(s @ self.down) @ self.up

    @torch.no_grad()
    def load(self, state, prefix=""):
        self.down.copy_(state[prefix + "fc1.weight"].t())
        self.up.copy_(state[prefix + "fc2.weight"].t())


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.excite = Excite(in_channel, in_channel // ratio)

    def forward(self, x):
        return x * torch.sigmoid(self.excite(x.mean(dim=(2, 3))))[:, :, None, None]


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.taps = nn.Parameter(torch.randn(k) / math.sqrt(k))

    def forward(self, x):
        k = self.taps.numel()
        s = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(F.conv1d(s, self.taps.view(1, 1, k), padding=k // 2))[:, 0, :, None, None]


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.shared = Excite(in_channel, in_channel // ratio)

    def forward(self, x):
        logits = self.shared(x.amax(dim=(2, 3))) + self.shared(x.mean(dim=(2, 3)))
        return x * torch.sigmoid(logits)[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(2, kernel_size, kernel_size) / kernel_size)

    def forward(self, x):
        maps = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        k = self.kernel.shape[-1]
        return x * torch.sigmoid(F.conv2d(maps, self.kernel[None], padding=k // 2))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        # spatial registered first: positional transfer would be wrong here too
        self.where = SpatialAttention(kernel_size)
        self.what = ChannelAttention(in_channel, ratio)

    def forward(self, x):
        return self.where(self.what(x))


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)


def load_se(module, state):
    module.excite.load(state)


@torch.no_grad()
def load_eca(module, state):
    module.taps.copy_(state["conv.weight"].reshape(-1))


def load_channel_attention(module, state):
    module.shared.load(state)


@torch.no_grad()
def load_spatial_attention(module, state):
    module.kernel.copy_(state["conv.weight"][0])


def load_cbam(module, state):
    module.what.shared.load(state, prefix="channel_attention.")
    load_spatial_attention(module.where, {"conv.weight": state["spatial_attention.conv.weight"]})
