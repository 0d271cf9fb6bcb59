"""Operators on the block's structure: dropped branches, concatenation and stage order, how two
branches combine, a channel shuffle's order, a residual, an in-place operation on the input."""

from __future__ import annotations

import libcst as cst

from ..mutator import Mutator, integer, operator


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


@operator("combine_swap", "a branch combined the other way: added where it is multiplied, or the reverse")
class CombineSwap(Mutator):
    def leave_BinaryOperation(self, original, updated):
        if not (self.computing and isinstance(original.operator, (cst.Add, cst.Multiply))):
            return updated
        if not (self._branch(original.left) or self._branch(original.right)):
            return updated
        space = cst.SimpleWhitespace(" ")
        if isinstance(original.operator, cst.Add):
            grouped = [self._grouped(side) for side in (updated.left, updated.right)]
            return self.site(original, updated, updated.with_changes(
                left=grouped[0], right=grouped[1], operator=cst.Multiply(whitespace_before=space, whitespace_after=space)))
        return self.site(original, updated, updated.with_changes(operator=cst.Add(whitespace_before=space, whitespace_after=space)))

    def _branch(self, node) -> bool:
        """A call of a submodule that computes a branch: one of the reference's blocks, a weighted layer, a Sequential."""
        ctor = self.ctor_of(node.func) if isinstance(node, cst.Call) else None
        return bool(ctor) and (ctor in self.scan.classes or self.scan.weighted(ctor) or ctor == "torch.nn.Sequential")

    @staticmethod
    def _grouped(side):
        """A sum or difference in parentheses, so that the product keeps it whole."""
        if isinstance(side, cst.BinaryOperation) and isinstance(side.operator, (cst.Add, cst.Subtract)) and not side.lpar:
            return side.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return side


@operator("shuffle_inverse", "a channel shuffle's two factors swapped: the inverse permutation of the channels")
class ShuffleInverse(Mutator):
    def leave_Call(self, original, updated):
        # z.reshape(b, g, n, ...).transpose(1, 2) or .permute(0, 2, 1, ...): the shuffle reads z as g x n
        if not (self.computing and self.method_call(original, "transpose", "permute")):
            return updated
        inner = original.func.value
        if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute)
                and inner.func.attr.value in ("reshape", "view") and len(inner.args) >= 3):
            return updated
        dims = [integer(a.value) for a in original.args]
        if not (dims == [1, 2] if original.func.attr.value == "transpose" else dims[:3] == [0, 2, 1]):
            return updated
        reshape = updated.func.value
        args = list(reshape.args)
        args[1], args[2] = args[2].with_changes(comma=args[1].comma), args[1].with_changes(comma=args[2].comma)
        return self.site(original, updated, updated.with_changes(func=updated.func.with_changes(value=reshape.with_changes(args=args))))


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
