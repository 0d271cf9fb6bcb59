"""Correct blocks built from nn.Sequential containers (parameter names like mlp.0.weight).

SE's excitation is nn.Sequential(Linear, ReLU, Linear, Sigmoid); the channel attention's shared MLP
is one nn.Sequential applied to both pooled vectors; spatial attention is Sequential(Conv2d,
Sigmoid); CBAM is nn.Sequential(channel attention, spatial attention). Registration order matches
the canonical order, so weights transfer by position.
Must be accepted: same functions as the documents' blocks.
"""

import math

import torch
from torch import nn


EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


class Scale(nn.Module):
    """x * gate(x), with the gate given as a module producing a broadcastable tensor."""

    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    def forward(self, x):
        return x * self.gate(x)


class ChannelGate(nn.Module):
    def __init__(self, mlp, pools):
        super().__init__()
        self.mlp = mlp
        self.pools = pools

    def forward(self, x):
        logits = sum(self.mlp(pool(x).flatten(1)) for pool in self.pools)
        return torch.sigmoid(logits)[..., None, None]


def _mlp(c, ratio):
    return nn.Sequential(nn.Linear(c, c // ratio, bias=False), nn.ReLU(), nn.Linear(c // ratio, c, bias=False))


class SpatialGate(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.body(torch.cat([torch.max(x, 1, keepdim=True)[0], torch.mean(x, 1, keepdim=True)], 1))


class Transpose(nn.Module):
    def forward(self, y):
        return y.transpose(-1, -2)


def se(*, in_channel, ratio):
    return Scale(ChannelGate(_mlp(in_channel, ratio), [nn.AdaptiveAvgPool2d(1)]))


def eca(*, in_channel, b, gamma):
    t = int(abs((math.log2(in_channel) + b) / gamma))
    k = t if t % 2 else t + 1
    gate = nn.Sequential(
        nn.AdaptiveAvgPool2d(1),      # [B, C, 1, 1]
        nn.Flatten(2),                # [B, C, 1]
        Transpose(),                  # [B, 1, C]
        nn.Conv1d(1, 1, k, padding=k // 2, bias=False),
        nn.Sigmoid(),
        Transpose(),                  # [B, C, 1]
        nn.Unflatten(2, (1, 1)),      # [B, C, 1, 1]
    )
    return Scale(gate)


def channel_attention(*, in_channel, ratio):
    return Scale(ChannelGate(_mlp(in_channel, ratio), [nn.AdaptiveMaxPool2d(1), nn.AdaptiveAvgPool2d(1)]))


def spatial_attention(*, kernel_size):
    return Scale(SpatialGate(kernel_size))


def cbam(*, in_channel, ratio, kernel_size):
    return nn.Sequential(channel_attention(in_channel=in_channel, ratio=ratio),
                         spatial_attention(kernel_size=kernel_size))
