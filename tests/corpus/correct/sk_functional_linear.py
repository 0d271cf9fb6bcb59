"""Correct selective kernel written with raw parameters, functional convolutions and Linear-shaped
fuse and select layers.

Each path holds a raw kernel, BatchNorm weight and bias and running statistics, and runs F.conv2d
with dilation m + 1 and F.batch_norm (batch statistics in train mode, running statistics in eval,
as nn.BatchNorm2d). The fuse and select layers are [d, C] and [M C, d] matrices (the canonical
1x1 kernels, reshaped by the registration-order transfer) applied to the pooled [B, C] vector,
with a functional BatchNorm between them; the softmax across the paths is written as exp over its
sum after subtracting the maximum. Must be accepted.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"selective_kernel": "pass"}


class Normalised(nn.Module):
    """A matrix or kernel (its weight), then a BatchNorm's weight, bias and running statistics."""

    def __init__(self, shape, channels):
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(shape) * 0.1)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def normalise(self, t):
        return F.batch_norm(t, self.running_mean, self.running_var, self.weight, self.bias, self.training, 0.1, 1e-5)


class SelectiveKernel(nn.Module):
    def __init__(self, in_channel, M, G, r, L):
        super().__init__()
        self.groups = G
        hidden = max(in_channel // r, L)
        self.paths = nn.ModuleList(Normalised((in_channel, in_channel // G, 3, 3), in_channel) for _ in range(M))
        self.fuse = Normalised((hidden, in_channel), hidden)
        self.select = nn.Linear(hidden, M * in_channel, bias=False)

    def forward(self, x):
        outputs = []
        for m, path in enumerate(self.paths):
            u = F.conv2d(x, path.kernel, padding=m + 1, dilation=m + 1, groups=self.groups)
            outputs.append(F.relu(path.normalise(u)))
        pooled = sum(outputs).mean(dim=(2, 3))  # [B, C]
        z = F.relu(self.fuse.normalise(pooled @ self.fuse.kernel.t()))  # BatchNorm over the batch
        logits = self.select(z).reshape(x.shape[0], len(self.paths), x.shape[1])  # path-major rows
        weights = (logits - logits.amax(dim=1, keepdim=True)).exp()
        shares = weights / weights.sum(dim=1, keepdim=True)
        return sum(u * shares[:, m, :, None, None] for m, u in enumerate(outputs))


def selective_kernel(*, in_channel, M, G, r, L):
    return SelectiveKernel(in_channel, M, G, r, L)
