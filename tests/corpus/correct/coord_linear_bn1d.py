"""Correct coordinate attention written with Linear layers over a channels-last strip and BatchNorm1d.

The H + W strip is kept as [B, H + W, C]; the three 1x1 convolutions become nn.Linear over the last
dimension (weights [out, in]: the canonical [out, in, 1, 1] reshaped), and the BatchNorm over the
strip is BatchNorm1d on [B, hidden, H + W], which normalises over the same B x (H + W) values as
the authors' BatchNorm2d on [B, hidden, H + W, 1]. h-swish is F.hardswish. Must be accepted.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"coord_attention": "pass"}


class CoordinateAttention(nn.Module):
    def __init__(self, in_channel, reduction):
        super().__init__()
        hidden = max(8, in_channel // reduction)
        self.reduce = nn.Linear(in_channel, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.to_rows = nn.Linear(hidden, in_channel)
        self.to_columns = nn.Linear(hidden, in_channel)

    def forward(self, x):
        b, c, h, w = x.shape
        strip = torch.cat([x.mean(3), x.mean(2)], dim=2).transpose(1, 2)  # [B, H + W, C]
        mixed = self.norm(self.reduce(strip).transpose(1, 2))  # [B, hidden, H + W]
        mixed = F.hardswish(mixed).transpose(1, 2)  # [B, H + W, hidden]
        rows = torch.sigmoid(self.to_rows(mixed[:, :h]))  # [B, H, C]
        columns = torch.sigmoid(self.to_columns(mixed[:, h:]))  # [B, W, C]
        return x * rows.permute(0, 2, 1)[:, :, :, None] * columns.permute(0, 2, 1)[:, :, None, :]


def coord_attention(*, in_channel, reduction):
    return CoordinateAttention(in_channel, reduction)
