"""Correct triplet attention that pools along each axis of x without permuting it first.

cw: max and mean over H give [B, 2, C, W] maps directly; hc: over W, transposed to [B, 2, H, C];
hw: over C. Each branch is an nn.Sequential of the bias-free k x k convolution and BatchNorm2d(1)
(the canonical order, loaded by registration order), and the three sigmoid gates are broadcast
back onto [B, C, H, W] with indexing instead of permutes. Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"triplet_attention": "pass"}


def branch(kernel_size):
    return nn.Sequential(nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False), nn.BatchNorm2d(1))


class TripletAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.cw, self.hc, self.hw = branch(kernel_size), branch(kernel_size), branch(kernel_size)

    def forward(self, x):
        over_h = torch.stack([x.amax(dim=2), x.mean(dim=2)], dim=1)  # [B, 2, C, W]
        over_w = torch.stack([x.amax(dim=3), x.mean(dim=3)], dim=1).transpose(2, 3)  # [B, 2, H, C]
        over_c = torch.stack([x.amax(dim=1), x.mean(dim=1)], dim=1)  # [B, 2, H, W]
        gate_cw = torch.sigmoid(self.cw(over_h))[:, 0, :, None, :]  # [B, C, 1, W]
        gate_hc = torch.sigmoid(self.hc(over_w))[:, 0].transpose(1, 2)[:, :, :, None]  # [B, C, H, 1]
        gate_hw = torch.sigmoid(self.hw(over_c))  # [B, 1, H, W]
        return x * (gate_cw + gate_hc + gate_hw) / 3


def triplet_attention(*, kernel_size):
    return TripletAttention(kernel_size)
