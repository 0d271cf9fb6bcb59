"""Operators on numbers: literals and constructor parameters off by one, rounding, the odd kernel,
the logarithm's base."""

from __future__ import annotations

import libcst as cst

from ..mutator import Mutator, integer, operator


@operator("const_shift", "a numeric constant off by one (pool size, padding divisor, dims, indices, 8, 4, 0.5, ...)")
class ConstShift(Mutator):
    def leave_Integer(self, original, updated):
        if not self.scopes:
            return updated
        value = int(original.value)
        return self.site(original, updated, self.expr(str(value + 1)), self.expr(str(value - 1)))

    def leave_Float(self, original, updated):
        if not self.scopes:
            return updated
        value = float(original.value)
        return self.site(original, updated, self.expr(repr(value + 1)), self.expr(repr(value - 1)))


@operator("param_shift", "a constructor parameter (ratio, b, gamma, kernel size, reduction, lambda) used off by one")
class ParamShift(Mutator):
    def leave_Name(self, original, updated):
        info = self.info
        if (self.method != "__init__" or info is None or id(original) in self.not_expressions
                or original.value not in info.init_params or original.value == info.channel_param):
            return updated
        return self.site(original, updated, self.expr("({n} + 1)", n=updated), self.expr("({n} - 1)", n=updated))


@operator("trunc_round", "truncation (int(), //) replaced by rounding or the ceiling")
class TruncRound(Mutator):
    def leave_Call(self, original, updated):
        if self.scopes and self.calls(original, "builtins.int"):
            z = updated.args[0].value
            return self.site(original, updated, self.expr("round({z})", z=z), self.expr("$math.ceil({z})", z=z))
        return updated

    def leave_BinaryOperation(self, original, updated):
        if self.scopes and isinstance(original.operator, cst.FloorDivide):
            a, b = updated.left, updated.right
            return self.site(original, updated, self.expr("round({a} / {b})", a=a, b=b), self.expr("$math.ceil({a} / {b})", a=a, b=b))
        return updated


def _parity(node) -> bool:
    """Whether an expression tests parity somewhere: ``... % 2``."""
    return any(isinstance(n.operator, cst.Modulo) and integer(n.right) == 2
               for n in _binary_operations(node))


def _binary_operations(node) -> list:
    from ..scan import find

    return find(node, cst.BinaryOperation)


@operator("odd_removed", "the step that makes a kernel size odd removed")
class OddRemoved(Mutator):
    walk_guards = True

    def leave_IfExp(self, original, updated):  # t if t % 2 else t + 1  ->  t
        return self.site(original, updated, updated.body) if _parity(original.test) else updated

    def leave_BooleanOperation(self, original, updated):  # k < 1 or k % 2 == 0  ->  k < 1
        if isinstance(original.operator, cst.Or) and _parity(original.right):
            return self.site(original, updated, updated.left, equivalent=(
                "only the constructor's validation changes: the spec's domain has odd kernel sizes only"))
        return updated


@operator("log_base", "the logarithm's base changed (log2 -> ln, log10, log3)")
class LogBase(Mutator):
    def leave_Call(self, original, updated):
        if self.calls(original, "math.log2", "numpy.log2"):
            z = updated.args[0].value
            return self.site(original, updated, self.expr("$math.log({z})", z=z), self.expr("$math.log10({z})", z=z),
                             self.expr("$math.log({z}, 3)", z=z))
        return updated
