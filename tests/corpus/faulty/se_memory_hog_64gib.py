"""SE whose forward allocates a 64 GiB tensor with `torch.empty` and touches every page (`fill_`).

Misbehaviour: runaway memory. Where the kernel refuses the single 64 GiB request (heuristic
overcommit on a smaller machine) the allocator raises; where it grants it lazily, `fill_` commits
page after page until attncert's guard on resident memory kills the process. Both must become a
failing clause (se_memory_hog_touching.py always takes the second path).

DANGER: never run this without a memory limit on a machine with less than ~70 GiB of free memory:
the kernel's OOM killer may pick another process. On a machine with more free memory and no limit
it completes (after touching 64 GiB) and returns a correct output.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}

HOG_BYTES = 64 * 2**30


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hog = torch.empty(HOG_BYTES, dtype=torch.uint8)  # host memory, whatever the input device
        hog.fill_(1)  # touch every page
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate * hog[0].to(x.device, x.dtype)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
