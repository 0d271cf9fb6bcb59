"""Operators on the block's structure: dropped branches, concatenation and stage order, a residual,
an in-place operation on the input."""

from __future__ import annotations

import libcst as cst

from ..mutator import Mutator, operator


def _cat_list(mutator: Mutator, call) -> bool:
    """torch.cat([...], ...) in forward: a literal list of tensors."""
    return (mutator.computing and mutator.calls(call, "torch.cat", "torch.concat", "torch.concatenate")
            and isinstance(call.args[0].value, cst.List))


@operator("drop_branch", "a branch dropped (a pooling branch, a gate factor, a CBAM stage)")
class DropBranch(Mutator):
    def leave_BinaryOperation(self, original, updated):
        if not self.computing:
            return updated
        if (isinstance(original.operator, cst.Add) and isinstance(original.left, cst.Call)
                and isinstance(original.right, cst.Call)
                and cst.Module([]).code_for_node(original.left.func) == cst.Module([]).code_for_node(original.right.func)):
            return self.site(original, updated, updated.right, updated.left)  # mlp(max) + mlp(avg): one branch
        if (isinstance(original.operator, cst.Multiply) and isinstance(original.left, cst.BinaryOperation)
                and isinstance(original.left.operator, cst.Multiply)):  # x * a * b: one factor
            return self.site(original, updated, updated.with_changes(left=updated.left.left),
                             updated.left.with_changes(lpar=[], rpar=[]))
        return updated

    def leave_Call(self, original, updated):
        if _cat_list(self, original):
            listed = updated.args[0].value
            alternatives = []
            for i, element in enumerate(listed.elements):  # one pooled map replaced by zeros
                zeros = element.with_changes(value=self.expr("$torch.zeros_like({e})", e=element.value))
                elements = [zeros if j == i else e for j, e in enumerate(listed.elements)]
                alternatives.append(updated.with_changes(
                    args=[updated.args[0].with_changes(value=listed.with_changes(elements=elements)), *updated.args[1:]]))
            return self.site(original, updated, *alternatives)
        inner = self.stage_call(original)
        if inner is not None:  # self.a(self.b(x)): one stage
            return self.site(original, updated, updated.args[0].value,
                             updated.with_changes(args=[updated.args[0].with_changes(value=inner.args[0].value)]))
        return updated


@operator("cat_order", "the order of a concatenation swapped")
class CatOrder(Mutator):
    def leave_Call(self, original, updated):
        if _cat_list(self, original):
            listed = updated.args[0].value
            elements = [e.with_changes(comma=listed.elements[i].comma) for i, e in enumerate(reversed(listed.elements))]
            return self.site(original, updated, updated.with_changes(
                args=[updated.args[0].with_changes(value=listed.with_changes(elements=elements)), *updated.args[1:]]))
        return updated


@operator("stage_order", "CBAM's stages applied in the other order")
class StageOrder(Mutator):
    def leave_Call(self, original, updated):
        inner = self.stage_call(original)
        if inner is None:
            return updated
        outer = updated.with_changes(args=[updated.args[0].with_changes(value=inner.args[0].value)])
        return self.site(original, updated, inner.with_changes(args=[inner.args[0].with_changes(value=outer)]))


@operator("residual", "a residual added: x + block(x)")
class Residual(Mutator):
    def leave_Return(self, original, updated):
        if self.method == "forward" and self.cls and original.value is not None:
            return self.site(original, updated, updated.with_changes(value=self.expr(f"{self.input_name} + {{v}}", v=updated.value)))
        return updated


@operator("inplace_input", "an in-place operation on the input (x.mul_, x.sub_)")
class InplaceInput(Mutator):
    def leave_BinaryOperation(self, original, updated):
        method = {cst.Multiply: "mul_", cst.Subtract: "sub_"}.get(type(original.operator))
        if self.method == "forward" and method and self.is_input(original.left):
            return self.site(original, updated, self.expr(f"{self.input_name}.{method}({{r}})", r=updated.right)
                             .with_changes(lpar=updated.lpar, rpar=updated.rpar))
        return updated
