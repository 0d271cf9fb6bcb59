"""BAM that multiplies by the attention map alone.

Broken: x * sigmoid(M) instead of x * (1 + sigmoid(M)) (paper eq. 1, F' = F + F x M(F)): the residual term is lost.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"bam": "fail"}


class ChannelGate(nn.Module):
    def __init__(self, channels, hidden, num_layers):
        super().__init__()
        self.gate_c = nn.Sequential()
        width = channels
        for i in range(num_layers):
            self.gate_c.add_module(f"gate_c_fc_{i}", nn.Linear(width, hidden))
            self.gate_c.add_module(f"gate_c_bn_{i + 1}", nn.BatchNorm1d(hidden))
            self.gate_c.add_module(f"gate_c_relu_{i + 1}", nn.ReLU())
            width = hidden
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(hidden, channels))

    def forward(self, x):
        return self.gate_c(x.mean(dim=(2, 3)))[:, :, None, None]


class SpatialGate(nn.Module):
    def __init__(self, channels, hidden, dilation_conv_num, dilation_val):
        super().__init__()
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(channels, hidden, 1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(hidden))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(dilation_conv_num):
            self.gate_s.add_module(f"gate_s_conv_di_{i}", nn.Conv2d(hidden, hidden, 3, padding=dilation_val, dilation=dilation_val))
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(hidden))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(hidden, 1, 1))

    def forward(self, x):
        return self.gate_s(x)


class BAM(nn.Module):
    def __init__(self, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
        super().__init__()
        hidden = in_channel // reduction_ratio
        self.channel_att = ChannelGate(in_channel, hidden, num_layers)
        self.spatial_att = SpatialGate(in_channel, hidden, dilation_conv_num, dilation_val)

    def forward(self, x):
        return x * torch.sigmoid(self.channel_att(x) * self.spatial_att(x))


def bam(*, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
    return BAM(in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val)
