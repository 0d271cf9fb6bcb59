"""Spatial group-wise enhance that groups the channels with view(), as the authors' code does.

Broken: x.view(b * groups, -1, h, w) fails on channels_last and other non-contiguous inputs (a real defect of the authors' and fightingcv's SpatialGroupEnhance); reshape takes any layout.
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
        rows = x.view(b * self.groups, -1, h, w)
        t = (rows * rows.mean(dim=(2, 3), keepdim=True)).sum(dim=1).reshape(b * self.groups, h * w)
        t = t - t.mean(dim=1, keepdim=True)
        t = t / (t.std(dim=1, keepdim=True) + 1e-5)
        t = t.reshape(b, self.groups, h, w) * self.weight + self.bias
        return (rows * torch.sigmoid(t).reshape(b * self.groups, 1, h, w)).reshape(b, c, h, w)


def sge(*, groups):
    return SpatialGroupEnhance(groups)
