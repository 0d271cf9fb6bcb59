"""Operators on poolings: the kind of pool, its axes, the batch dimension, view() on the input."""

from __future__ import annotations

import libcst as cst

from ..mutator import ADAPTIVE_POOLS, Mutator, code, integer, operator, with_dim

SWAPPED = {"torch.nn.AdaptiveAvgPool2d": "$nn.AdaptiveMaxPool2d", "torch.nn.AdaptiveMaxPool2d": "$nn.AdaptiveAvgPool2d"}


def _output_size(call: cst.Call) -> str | None:
    """An adaptive pool's output size as written: "1", "(None, 1)", ..."""
    return code(call.args[0].value) if call.args else None


@operator("pool_swap", "average pooling and max pooling swapped")
class PoolSwap(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, *ADAPTIVE_POOLS):
            return self.site(original, updated, updated.with_changes(
                func=self.expr(SWAPPED[self.scan.qualified(original.func)])))
        # a pooling of the input, or a global (spatial) pooling of anything (the paths' sum, a group)
        if self.ctor_of(original.func) is None and (self.pool_call(original) or (
                self.method_call(original, "mean", "amax") and self.reduction(original) == (2, 3))):
            other = {"mean": "amax", "amax": "mean"}[original.func.attr.value]
            return self.site(original, updated, updated.with_changes(func=updated.func.with_changes(attr=cst.Name(other))))
        return updated


@operator("pool_axes", "pooling over the wrong axes")
class PoolAxes(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, *ADAPTIVE_POOLS) and original.args:
            wrong = {"1": ["(1, None)", "(None, 1)"], "(None, 1)": ["(1, 1)"], "(1, None)": ["(1, 1)"]}
            return self.site(original, updated, *[updated.with_changes(args=[updated.args[0].with_changes(value=self.expr(w))])
                                                  for w in wrong.get(_output_size(original), [])])
        if self.reduction(original) == (2, 3):  # over H and W: one of them only, or the channels too
            return self.site(original, updated, with_dim(updated, (3,)), with_dim(updated, (1, 2, 3)))
        return updated


@operator("batch_stats", "statistics over the batch instead of per sample")
class BatchStats(Mutator):
    def leave_Call(self, original, updated):
        ctor = self.ctor_of(original.func) if self.pool_call(original) else None
        if ctor in ADAPTIVE_POOLS:
            reduce = "amax" if ctor == "torch.nn.AdaptiveMaxPool2d" else "mean"
            return self.site(original, updated, self.expr(f"{{p}}.{reduce}(dim=0, keepdim=True)", p=updated))
        dims = self.reduction(original)
        if dims:
            return self.site(original, updated, with_dim(updated, (0, *dims)))
        return updated


# reshape() in the same places is an equivalent mutant (it copies when it must): not generated,
# since an equivalent costs a full certification of its blocks (minutes under thorough).
@operator("view_on_input", "the input flattened with view() to pool it (fails on non-contiguous inputs)")
class ViewOnInput(Mutator):
    def leave_Call(self, original, updated):
        if not self.pool_call(original):
            return updated
        x = self.input_name
        flat = f"{x}.view({x}.shape[0], {x}.shape[1], -1)"
        ctor = self.ctor_of(original.func)
        if ctor is not None:
            pool = self.submodule_call(original)
            if pool is None or not pool.args or integer(pool.args[0].value) != 1:
                return updated  # coordinate attention's strip pools are not global poolings
            reduce = "amax" if ctor == "torch.nn.AdaptiveMaxPool2d" else "mean"
            return self.site(original, updated, self.expr(f"{flat}.{reduce}(-1)[:, :, None, None]"))
        reduce, dims = original.func.attr.value, self.reduction(original)
        if dims == (2, 3):
            return self.site(original, updated, self.expr(f"{flat}.{reduce}(-1)[:, :, None, None]"))
        if dims == (1,):
            return self.site(original, updated, self.expr(f"{flat}.{reduce}(1).view({x}.shape[0], 1, {x}.shape[2], {x}.shape[3])"))
        return updated
