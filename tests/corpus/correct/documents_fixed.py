"""The documents' classes with their one defect fixed: ECA's even kernel becomes the next odd one.

Same layers, names, registration order and forward passes as the blog post's se_block, eca_block,
channel_attention, spatial_attention and cbam (§1.2, §2.2, §3.2-3.4), including the
AdaptiveAvgPool2d / AdaptiveMaxPool2d modules and the .view reshapes of the pooled results
(which are always contiguous, so they work for any input layout). Only the ECA odd-kernel branch
is corrected (kernel_size + 1 for an even kernel), as the post's comment says it should be.
Must be accepted.
"""

import math

import torch
from torch import nn

EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


class se_block(nn.Module):
    def __init__(self, in_channel, ratio=4):
        super(se_block, self).__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=1)
        self.fc1 = nn.Linear(in_features=in_channel, out_features=in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_features=in_channel // ratio, out_features=in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        b, c, h, w = inputs.shape
        x = self.avg_pool(inputs)
        x = x.view([b, c])
        x = self.fc1(x)
        x = self.relu(x)
        x = self.fc2(x)
        x = self.sigmoid(x)
        x = x.view([b, c, 1, 1])
        return x * inputs


class eca_block(nn.Module):
    def __init__(self, in_channel, b=1, gama=2):
        super(eca_block, self).__init__()
        kernel_size = int(abs((math.log(in_channel, 2) + b) / gama))
        if kernel_size % 2:
            kernel_size = kernel_size
        else:
            kernel_size = kernel_size + 1
        padding = kernel_size // 2
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=1)
        self.conv = nn.Conv1d(in_channels=1, out_channels=1, kernel_size=kernel_size, bias=False, padding=padding)
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        b, c, h, w = inputs.shape
        x = self.avg_pool(inputs)
        x = x.view([b, 1, c])
        x = self.conv(x)
        x = self.sigmoid(x)
        x = x.view([b, c, 1, 1])
        return x * inputs


class channel_attention(nn.Module):
    def __init__(self, in_channel, ratio=4):
        super(channel_attention, self).__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(output_size=1)
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=1)
        self.fc1 = nn.Linear(in_features=in_channel, out_features=in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_features=in_channel // ratio, out_features=in_channel, bias=False)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        b, c, h, w = inputs.shape
        max_pool = self.max_pool(inputs).view([b, c])
        avg_pool = self.avg_pool(inputs).view([b, c])
        x_maxpool = self.fc2(self.relu(self.fc1(max_pool)))
        x_avgpool = self.fc2(self.relu(self.fc1(avg_pool)))
        x = self.sigmoid(x_maxpool + x_avgpool)
        x = x.view([b, c, 1, 1])
        return inputs * x


class spatial_attention(nn.Module):
    def __init__(self, kernel_size=7):
        super(spatial_attention, self).__init__()
        padding = kernel_size // 2
        self.conv = nn.Conv2d(in_channels=2, out_channels=1, kernel_size=kernel_size, padding=padding, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, inputs):
        x_maxpool, _ = torch.max(inputs, dim=1, keepdim=True)
        x_avgpool = torch.mean(inputs, dim=1, keepdim=True)
        x = torch.cat([x_maxpool, x_avgpool], dim=1)
        x = self.conv(x)
        x = self.sigmoid(x)
        return inputs * x


class cbam(nn.Module):
    def __init__(self, in_channel, ratio=4, kernel_size=7):
        super(cbam, self).__init__()
        self.channel_attention = channel_attention(in_channel=in_channel, ratio=ratio)
        self.spatial_attention = spatial_attention(kernel_size=kernel_size)

    def forward(self, inputs):
        x = self.channel_attention(inputs)
        x = self.spatial_attention(x)
        return x


# channel_attention, spatial_attention and cbam take the contract's keywords already.
def se(*, in_channel, ratio):
    return se_block(in_channel=in_channel, ratio=ratio)


def eca(*, in_channel, b, gamma):
    return eca_block(in_channel=in_channel, b=b, gama=gamma)
