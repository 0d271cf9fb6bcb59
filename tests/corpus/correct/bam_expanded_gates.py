"""Correct BAM whose branches return maps expanded to the input's shape, as the authors' code is
organised, with global pooling where that code pools an H x H window.

The channel gate flattens the adaptively average-pooled map and runs an nn.Sequential whose layers
are named gate_c_fc_0, gate_c_bn_1, gate_c_relu_1, ..., gate_c_fc_final (a Flatten module first);
the spatial gate's Sequential is named gate_s_conv_reduce0, ... gate_s_conv_final; both results
are expand_as(x); the block returns (1 + sigmoid(channel * spatial)) * x. Must be accepted.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"bam": "pass"}


class Flat(nn.Module):
    def forward(self, t):
        return t.reshape(t.shape[0], -1)


class ChannelGate(nn.Module):
    def __init__(self, channels, reduction_ratio, num_layers):
        super().__init__()
        widths = [channels] + [channels // reduction_ratio] * num_layers + [channels]
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("flatten", Flat())
        for i in range(num_layers):
            self.gate_c.add_module("gate_c_fc_%d" % i, nn.Linear(widths[i], widths[i + 1]))
            self.gate_c.add_module("gate_c_bn_%d" % (i + 1), nn.BatchNorm1d(widths[i + 1]))
            self.gate_c.add_module("gate_c_relu_%d" % (i + 1), nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(widths[-2], widths[-1]))

    def forward(self, x):
        return self.gate_c(F.adaptive_avg_pool2d(x, 1)).unsqueeze(2).unsqueeze(3).expand_as(x)


class SpatialGate(nn.Module):
    def __init__(self, channels, reduction_ratio, dilation_conv_num, dilation_val):
        super().__init__()
        hidden = channels // reduction_ratio
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(channels, hidden, kernel_size=1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(hidden))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(dilation_conv_num):
            self.gate_s.add_module("gate_s_conv_di_%d" % i,
                                   nn.Conv2d(hidden, hidden, kernel_size=3, padding=dilation_val, dilation=dilation_val))
            self.gate_s.add_module("gate_s_bn_di_%d" % i, nn.BatchNorm2d(hidden))
            self.gate_s.add_module("gate_s_relu_di_%d" % i, nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(hidden, 1, kernel_size=1))

    def forward(self, x):
        return self.gate_s(x).expand_as(x)


class BAM(nn.Module):
    def __init__(self, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
        super().__init__()
        self.channel_att = ChannelGate(in_channel, reduction_ratio, num_layers)
        self.spatial_att = SpatialGate(in_channel, reduction_ratio, dilation_conv_num, dilation_val)

    def forward(self, x):
        return (1 + torch.sigmoid(self.channel_att(x) * self.spatial_att(x))) * x


def bam(*, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
    return BAM(in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val)
