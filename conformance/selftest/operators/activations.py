"""Operators on activations and the gate: other activations, h-swish's constants, a softmax's
normalisation, casts, detach, dropout."""

from __future__ import annotations

from ..mutator import Mutator, operator, register


class SigmoidSwap(Mutator):
    """The gate's sigmoid replaced: the nn.Sigmoid module by ``module``, a functional sigmoid by ``function``."""

    keywords = ("module", "function")

    def leave_Call(self, original, updated):
        if self.ctor_call(original, "torch.nn.Sigmoid"):
            return self.site(original, updated, self.expr(self.module))
        if self.gate_call(original) and self.ctor_of(original.func) is None:
            return self.site(original, updated, self.expr(self.function, z=updated.args[0].value if updated.args else updated.func.value))
        return updated


for _kind, _module, _function, _plain in (
    ("hardsigmoid", "$nn.Hardsigmoid()", "$nn.functional.hardsigmoid({z})", "a hard sigmoid"),
    ("tanh", "$nn.Tanh()", "$torch.tanh({z})", "tanh"),
    ("identity", "$nn.Identity()", "{z}", "nothing (the logits themselves)"),
):
    register(f"sigmoid_{_kind}", f"the gate's sigmoid replaced by {_plain}", SigmoidSwap, module=_module, function=_function)


class ReluSwap(Mutator):
    """The hidden nn.ReLU replaced by ``module``."""

    keywords = ("module",)

    def leave_Call(self, original, updated):
        return self.site(original, updated, self.expr(self.module)) if self.ctor_call(original, "torch.nn.ReLU") else updated


for _kind, _module in (("identity", "Identity"), ("leakyrelu", "LeakyReLU"), ("gelu", "GELU")):
    register(f"relu_{_kind}", f"the hidden ReLU replaced by {_module}", ReluSwap, module=f"$nn.{_module}()")


@operator("softmax_swap", "a softmax replaced by a sigmoid per element (shares that need not sum to 1) or by nothing (the logits)")
class SoftmaxSwap(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, "torch.nn.Softmax"):
            return self.site(original, updated, self.expr("$nn.Sigmoid()"), self.expr("$nn.Identity()"))
        if not self.computing:
            return updated
        if self.method_call(original, "softmax"):
            z = updated.func.value
        elif self.calls(original, "torch.softmax", "torch.nn.functional.softmax") and updated.args:
            z = updated.args[0].value
        else:
            return updated
        return self.site(original, updated, self.expr("$torch.sigmoid({z})", z=z), z)


@operator("hswish_swap", "h-swish replaced by SiLU, ReLU or nothing")
class HswishSwap(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, "torch.nn.Hardswish"):
            return self.site(original, updated, self.expr("$nn.SiLU()"), self.expr("$nn.ReLU()"), self.expr("$nn.Identity()"))
        return updated


@operator("hswish_constant", "a constant of h-swish t * clamp(t + 3, 0, 6) / 6 off by one")
class HswishConstant(Mutator):
    def leave_Call(self, original, updated):
        if self.computing and self.ctor_of(original.func) == "torch.nn.Hardswish":
            forms = [(2, 6, 6), (4, 6, 6), (3, 5, 6), (3, 7, 6), (3, 6, 5), (3, 6, 7)]
            return self.site(original, updated, *[self.expr(f"(lambda t: t * (t + {a}).clamp(0, {b}) / {c})({{z}})",
                                                            z=updated.args[0].value) for a, b, c in forms])
        return updated


class GateCast(Mutator):
    """The gate cast with the tensor method ``cast`` (float, half, bfloat16)."""

    keywords = ("cast",)

    def leave_Call(self, original, updated):
        return self.site(original, updated, self.expr(f"{{g}}.{self.cast}()", g=updated)) if self.gate_call(original) else updated


for _dtype, _cast in (("float32", "float"), ("float16", "half"), ("bfloat16", "bfloat16")):
    register(f"gate_{_dtype}", f"the gate cast to {_dtype}", GateCast, cast=_cast)


@operator("detach_gate", "detach() in the gate path (no gradient through the gate or a pooling)")
class DetachGate(Mutator):
    def leave_Call(self, original, updated):
        if self.gate_call(original) or self.pool_call(original):
            return self.site(original, updated, self.expr("{g}.detach()", g=updated))
        return updated


@operator("dropout", "dropout on the gate in train mode")
class Dropout(Mutator):
    def leave_Call(self, original, updated):
        if self.gate_call(original):
            return self.site(original, updated, self.expr("$nn.functional.dropout({g}, 0.1, self.training)", g=updated))
        return updated
