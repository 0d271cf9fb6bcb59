"""Spatial group-wise enhance that adds eps to the variance.

Broken: sqrt(var + 1e-5) where the authors add 1e-5 to the standard deviation: std + 1e-5 (the two differ most for small spreads).
"""

import torch
from torch import nn

EXPECT = {"sge": "fail"}


class SpatialGroupEnhance(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, groups, 1, 1))

    def forward(self, x):
        b, c, h, w = x.shape
        rows = x.reshape(b * self.groups, -1, h, w)
        t = (rows * rows.mean(dim=(2, 3), keepdim=True)).sum(dim=1).reshape(b * self.groups, h * w)
        t = t - t.mean(dim=1, keepdim=True)
        t = t / torch.sqrt(t.var(dim=1, keepdim=True) + 1e-5)
        t = t.reshape(b, self.groups, h, w) * self.weight + self.bias
        return (rows * torch.sigmoid(t).reshape(b * self.groups, 1, h, w)).reshape(b, c, h, w)


def sge(*, groups):
    return SpatialGroupEnhance(groups)
