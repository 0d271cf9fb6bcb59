"""SE that computes its gate from a detached input.

Broken: gate = excite(squeeze(x.detach())) ("the gate is just a weighting, no need to
backpropagate through it" -- a memory-saving trick). Outputs are exact and the parameter
gradients are still right; only the gradient w.r.t. the input loses the path through the gate.
Why wrong: documents §1.1 小节 (1): SE learns its weights "根据loss损失" -- end to end; the block is
the function x * sigmoid(fc2(relu(fc1(avgpool(x))))) and its input gradient includes the gate's
term (attncert's requirements: input gradients must equal the oracle's).
Visible: only in the backward pass (input gradient, gradcheck), at every size and dtype.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        pooled = x.detach().mean(dim=(2, 3))
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
