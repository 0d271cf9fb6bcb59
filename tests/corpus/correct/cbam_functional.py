"""Correct CBAM composed functionally: pure gate functions plus parameter holders.

channel_gate(x, w1, w2) and spatial_gate(x, k) are plain functions; the modules only hold
parameters in the canonical layout (channel_attention.fc1.weight, ...) inside nn.ParameterDicts
registered in canonical order; cbam applies x -> x * cg(x) -> y * sg(y) with
functools.reduce over the stage list.
Must be accepted.
"""

import functools

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


def channel_gate(x, w1, w2):
    def mlp(s):
        return F.linear(F.relu(F.linear(s, w1)), w2)

    by_max = mlp(F.adaptive_max_pool2d(x, 1).flatten(1))
    by_avg = mlp(F.adaptive_avg_pool2d(x, 1).flatten(1))
    return torch.sigmoid(by_max + by_avg)[..., None, None]


def spatial_gate(x, kernel):
    maps = torch.cat([x.max(dim=1, keepdim=True).values, x.mean(dim=1, keepdim=True)], dim=1)
    return torch.sigmoid(F.conv2d(maps, kernel, padding=kernel.shape[-1] // 2))


class Stage(nn.Module):
    def __init__(self, gate, params):
        super().__init__()
        self.gate = gate
        self.params = nn.ParameterDict(params)

    def forward(self, x):
        return x * self.gate(x, *self.params.values())


def _channel(in_channel, ratio):
    h = in_channel // ratio
    return Stage(channel_gate, {"fc1": nn.Parameter(torch.rand(h, in_channel) - 0.5),
                                "fc2": nn.Parameter(torch.rand(in_channel, h) - 0.5)})


def _spatial(kernel_size):
    return Stage(spatial_gate, {"conv": nn.Parameter(torch.rand(1, 2, kernel_size, kernel_size) - 0.5)})


class Pipeline(nn.Module):
    def __init__(self, *stages):
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        return functools.reduce(lambda y, stage: stage(y), self.stages, x)


def channel_attention(*, in_channel, ratio):
    return _channel(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return _spatial(kernel_size)


def cbam(*, in_channel, ratio, kernel_size):
    return Pipeline(_channel(in_channel, ratio), _spatial(kernel_size))
