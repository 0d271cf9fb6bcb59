"""Correct shuffle attention with the shuffle as an index and the normalisation written out.

The group's halves are sliced by index, the GroupNorm of the second half is its per-channel mean
and biased variance over H and W (eps 1e-5) with the affine parameters gn_weight and gn_bias,
registered after the four gate parameters (the canonical order), and the shuffle is an
index_select with output channel 2 j + i taking channel i C / 2 + j. load_shuffle_attention maps
the canonical gn.weight and gn.bias onto gn_weight and gn_bias. Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"shuffle_attention": "pass"}


class ShuffleAttention(nn.Module):
    def __init__(self, in_channel, groups):
        super().__init__()
        half = in_channel // (2 * groups)
        self.groups, self.half = groups, half
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.gn_weight = nn.Parameter(torch.ones(half))
        self.gn_bias = nn.Parameter(torch.zeros(half))
        order = torch.arange(in_channel).reshape(2, in_channel // 2).t().reshape(-1)  # 2 j + i <- i C / 2 + j
        self.register_buffer("order", order, persistent=False)

    def forward(self, x):
        b, c, h, w = x.shape
        rows = x.reshape(b * self.groups, 2 * self.half, h, w)
        first, second = rows[:, :self.half], rows[:, self.half:]
        first = first * torch.sigmoid(self.cweight * first.mean(dim=(2, 3), keepdim=True) + self.cbias)
        mean = second.mean(dim=(2, 3), keepdim=True)
        variance = (second - mean).square().mean(dim=(2, 3), keepdim=True)
        normed = (second - mean) / torch.sqrt(variance + 1e-5) * self.gn_weight[:, None, None] + self.gn_bias[:, None, None]
        second = second * torch.sigmoid(self.sweight * normed + self.sbias)
        out = torch.cat([first, second], dim=1).reshape(b, c, h, w)
        return out.index_select(1, self.order)


def shuffle_attention(*, in_channel, groups):
    return ShuffleAttention(in_channel, groups)


def load_shuffle_attention(module, state):
    params = dict(module.named_parameters())
    for canonical, tensor in state.items():
        params[canonical.replace(".", "_")].copy_(tensor)
