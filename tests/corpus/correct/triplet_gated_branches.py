"""Correct triplet attention that averages three gated tensors, as the authors' code is organised.

Each branch gates its own permuted copy of x (made contiguous) and is permuted back; the block
returns the mean of the three gated tensors, which equals x times the mean of the gates. The pool
takes torch.max(t, 1)[0] and torch.mean; the sigmoid is applied in place on the BatchNorm's output
(a new tensor, never the input); the BatchNorm has momentum 0.01 (only the running statistics move
differently). Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"triplet_attention": "pass"}


class ConvNorm(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, momentum=0.01)

    def forward(self, t):
        return self.bn(self.conv(t))


class GatedBranch(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = ConvNorm(kernel_size)

    def forward(self, t):
        pooled = torch.cat((torch.max(t, 1)[0].unsqueeze(1), torch.mean(t, 1).unsqueeze(1)), dim=1)
        return t * torch.sigmoid_(self.conv(pooled))


class TripletAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.cw, self.hc, self.hw = GatedBranch(kernel_size), GatedBranch(kernel_size), GatedBranch(kernel_size)

    def forward(self, x):
        via_cw = self.cw(x.permute(0, 2, 1, 3).contiguous()).permute(0, 2, 1, 3).contiguous()
        via_hc = self.hc(x.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1).contiguous()
        return 1 / 3 * (self.hw(x) + via_cw + via_hc)


def triplet_attention(*, kernel_size):
    return TripletAttention(kernel_size)
