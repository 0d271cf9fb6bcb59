"""Operators on normalisation layers: statistics from elsewhere than the module's own."""

from __future__ import annotations

import libcst as cst

from ..mutator import Mutator, operator


@operator("norm_statistics", "a normalisation over other statistics: BatchNorm without running statistics (the batch's in "
          "eval mode too), GroupNorm over one group of all its channels")
class NormStatistics(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d"):
            flag = cst.Arg(cst.Name("False"), keyword=cst.Name("track_running_stats"),
                           equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
            return self.site(original, updated, updated.with_changes(args=[*updated.args, flag]))
        if self.ctor_call(original, "torch.nn.GroupNorm") and updated.args and updated.args[0].keyword is None:
            first = updated.args[0]
            return self.site(original, updated, updated.with_changes(args=[first.with_changes(value=cst.Integer("1")), *updated.args[1:]]))
        return updated
