"""An adapter that provides no block: it defines a working SE module, but under names the contract
does not know (`SqueezeExcite`, `make_se`, `SE_block`), and no `se`/`eca`/`channel_attention`/
`spatial_attention`/`cbam` factory.

Misbehaviour: nothing to certify. `attncert certify` must not report an empty success (exit 0 with
every block "absent"); it must exit with status 2 and a message listing the factory names it looked
for.
"""

import torch
from torch import nn

# Expected exit status of `attncert certify tests/corpus/faulty/no_block.py`: 2 (usage error: no block provided).
EXPECT_EXIT = 2


class SqueezeExcite(nn.Module):
    def __init__(self, in_channel, ratio=4):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def make_se(*, in_channel, ratio):
    return SqueezeExcite(in_channel, ratio)


SE_block = SqueezeExcite
