"""Correct SimAM written with torch.var (unbiased: divides by H W - 1, as the paper's n = H W - 1)
over the flattened positions, and the energy's inverse expanded: (d + 2 (v + lambda)) / (4 (v + lambda)).
Must be accepted: the same function as the authors' simam_module.
"""

import torch
from torch import nn

EXPECT = {"simam": "pass"}


class SimAM(nn.Module):
    def __init__(self, e_lambda):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x):
        flat = x.flatten(2)
        variance = flat.var(dim=2, unbiased=True, keepdim=True)
        distance = (flat - flat.mean(dim=2, keepdim=True)) ** 2
        denominator = 4 * (variance + self.e_lambda)
        inverse_energy = (distance + denominator / 2) / denominator
        return x * torch.sigmoid(inverse_energy).reshape(x.shape)


def simam(*, e_lambda):
    return SimAM(e_lambda)
