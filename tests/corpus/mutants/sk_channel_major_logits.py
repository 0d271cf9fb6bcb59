"""Selective kernel that reads the select layer's M C logits channel-major.

Broken: logit row c M + m taken as path m, channel c; the paper's fc_select (Caffe Reshape to [N, M, C], timm's view(B, M, C)) is path-major, row m C + c.
"""

import torch
from torch import nn

EXPECT = {"selective_kernel": "fail"}


class Path(nn.Module):
    def __init__(self, channels, groups, dilation):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Select(nn.Module):
    def __init__(self, channels, paths, hidden):
        super().__init__()
        self.paths = paths
        self.fc_reduce = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.fc_select = nn.Conv2d(hidden, channels * paths, 1, bias=False)

    def forward(self, summed):
        z = torch.relu(self.bn(self.fc_reduce(summed.mean(dim=(2, 3), keepdim=True))))
        logits = self.fc_select(z)
        return logits.reshape(logits.shape[0], -1, self.paths, 1, 1).transpose(1, 2).softmax(dim=1)


class SelectiveKernel(nn.Module):
    def __init__(self, in_channel, M, G, r, L):
        super().__init__()
        self.paths = nn.ModuleList(Path(in_channel, G, m + 1) for m in range(M))
        self.attn = Select(in_channel, M, max(in_channel // r, L))

    def forward(self, x):
        outputs = torch.stack([path(x) for path in self.paths], dim=1)
        return (outputs * self.attn(outputs.sum(dim=1))).sum(dim=1)


def selective_kernel(*, in_channel, M, G, r, L):
    return SelectiveKernel(in_channel, M, G, r, L)
