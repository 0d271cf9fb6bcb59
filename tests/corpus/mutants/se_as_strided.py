"""SE that reads the input's storage as if it were NCHW-contiguous (a zero-copy "speed-up").

Broken: the squeeze uses x.as_strided((B, C, H*W), (C*H*W, H*W, 1)).mean(-1), i.e. it assumes the
default contiguous layout instead of the tensor's real strides.
Why wrong: documents §1.1 (1): the squeeze is the mean of each channel's own H*W values; the
block must give the same result whatever the memory format of the (logically identical) input.
Visible: only for channels_last inputs (with C > 1 and H*W > 1) and for non-contiguous views
(slices, transposes), where the "channel" rows mix values of different channels and positions;
for contiguous inputs it is exact, so a harness that never changes the layout misses it.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        flat = x.as_strided((b, c, h * w), (c * h * w, h * w, 1))  # no copy
        gate = torch.sigmoid(self.fc2(self.relu(self.fc1(flat.mean(-1)))))
        return x * gate.view(b, c, 1, 1)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
