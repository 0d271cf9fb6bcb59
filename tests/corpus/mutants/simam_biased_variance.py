"""SimAM with the biased variance.

Broken: divides the summed squared distances by H W instead of the paper's n = H W - 1.
"""

import torch
from torch import nn

EXPECT = {"simam": "fail"}


class SimAM(nn.Module):
    def __init__(self, e_lambda):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x):
        positions = x.shape[2] * x.shape[3]
        distance = (x - x.mean(dim=(2, 3), keepdim=True)) ** 2
        variance = distance.sum(dim=(2, 3), keepdim=True) / (positions)
        return x * torch.sigmoid(distance / (4 * (variance + self.e_lambda)) + 0.5)


def simam(*, e_lambda):
    return SimAM(e_lambda)
