"""Correct spatial group-wise enhance with einsum similarities and torch.var.

The channels are a [B, G, C / G, H W] tensor; each position's similarity to the group's mean
vector is an einsum over the group's channels; the standard deviation is the square root of
torch.var (correction 1, dividing by H W - 1) plus 1e-5; the per-group weight and bias are [G]
views of the [1, G, 1, 1] parameters. Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"sge": "pass"}


class SpatialGroupEnhance(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, groups, 1, 1))

    def forward(self, x):
        b, c, h, w = x.shape
        grouped = x.reshape(b, self.groups, c // self.groups, h * w)
        similarity = torch.einsum("bgkp,bgk->bgp", grouped, grouped.mean(dim=3))
        centred = similarity - similarity.mean(dim=2, keepdim=True)
        normalised = centred / (torch.var(similarity, dim=2, correction=1, keepdim=True).sqrt() + 1e-5)
        logits = normalised * self.weight.reshape(1, -1, 1) + self.bias.reshape(1, -1, 1)
        return (grouped * torch.sigmoid(logits)[:, :, None, :]).reshape(b, c, h, w)


def sge(*, groups):
    return SpatialGroupEnhance(groups)
