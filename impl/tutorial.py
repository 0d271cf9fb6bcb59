"""The source documents' SE, ECA and CBAM, behaviour for behaviour, defects included.

Rewritten from the source documents' blog post (not copied): the same layers, names, order and
reshapes. Deliberately NOT fixed: ECA's "make the kernel odd" branch assigns the kernel to itself,
so an even kernel stays even. With padding k // 2 an even kernel yields C + 1 outputs and the
reshape to [b, c, 1, 1] fails (and k = 0 at C = 1). attncert must catch exactly that.
"""

import math

import torch
from torch import nn


class se_block(nn.Module):
    def __init__(self, in_channel, ratio=4):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=1)
        self.fc1 = nn.Linear(in_features=in_channel, out_features=in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_features=in_channel // ratio, out_features=in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        b, c, h, w = inputs.shape
        weights = self.avg_pool(inputs).view([b, c])
        weights = self.sigmoid(self.fc2(self.relu(self.fc1(weights))))
        return weights.view([b, c, 1, 1]) * inputs


class eca_block(nn.Module):
    def __init__(self, in_channel, b=1, gama=2):
        super().__init__()
        kernel_size = int(abs((math.log(in_channel, 2) + b) / gama))
        # The documents' odd-kernel step: both branches keep the value, so even kernels survive.
        kernel_size = kernel_size if kernel_size % 2 else kernel_size
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=1)
        self.conv = nn.Conv1d(in_channels=1, out_channels=1, kernel_size=kernel_size,
                              bias=False, padding=kernel_size // 2)
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        b, c, h, w = inputs.shape
        weights = self.avg_pool(inputs).view([b, 1, c])
        weights = self.sigmoid(self.conv(weights))
        return weights.view([b, c, 1, 1]) * inputs


class channel_attention(nn.Module):
    def __init__(self, in_channel, ratio=4):
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(output_size=1)
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=1)
        self.fc1 = nn.Linear(in_features=in_channel, out_features=in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_features=in_channel // ratio, out_features=in_channel, bias=False)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        b, c, h, w = inputs.shape
        by_max = self.fc2(self.relu(self.fc1(self.max_pool(inputs).view([b, c]))))
        by_avg = self.fc2(self.relu(self.fc1(self.avg_pool(inputs).view([b, c]))))
        weights = self.sigmoid(by_max + by_avg).view([b, c, 1, 1])
        return inputs * weights


class spatial_attention(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(in_channels=2, out_channels=1, kernel_size=kernel_size,
                              padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        by_max, _ = torch.max(inputs, dim=1, keepdim=True)
        by_mean = torch.mean(inputs, dim=1, keepdim=True)
        weights = self.sigmoid(self.conv(torch.cat([by_max, by_mean], dim=1)))
        return inputs * weights


class cbam(nn.Module):
    def __init__(self, in_channel, ratio=4, kernel_size=7):
        super().__init__()
        self.channel_attention = channel_attention(in_channel=in_channel, ratio=ratio)
        self.spatial_attention = spatial_attention(kernel_size=kernel_size)

    def forward(self, inputs):
        return self.spatial_attention(self.channel_attention(inputs))


# The plug-in contract (README, "Certify your own implementation"). The classes channel_attention, spatial_attention and cbam
# already take the contract's keywords, so they serve as their own factories. The documents call
# gamma "gama".
def se(*, in_channel, ratio):
    return se_block(in_channel=in_channel, ratio=ratio)


def eca(*, in_channel, b, gamma):
    return eca_block(in_channel=in_channel, b=b, gama=gamma)
