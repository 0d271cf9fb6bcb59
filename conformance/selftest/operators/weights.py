"""Operators on layers and their weights: biases, transposed or flipped weights, swapped layers,
registration order."""

from __future__ import annotations

import libcst as cst

from ..mutator import Mutator, code, integer, operator

LAYERS = ("torch.nn.Linear", "torch.nn.Conv1d", "torch.nn.Conv2d")


def _kernel_size(call: cst.Call):
    """A convolution's kernel_size argument (the third positional or the keyword)."""
    keyword = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "kernel_size"), None)
    positional = [a.value for a in call.args if a.keyword is None]
    return keyword if keyword is not None else positional[2] if len(positional) > 2 else None


@operator("bias_toggle", "a layer's bias switched on (off where the reference has one)")
class BiasToggle(Mutator):
    def leave_Call(self, original, updated):
        if not self.ctor_call(original, *LAYERS):
            return updated
        if not any(a.keyword is not None and a.keyword.value == "bias" for a in original.args):
            return self.site(original, updated, self.expr("{f}({a}, bias=False)", f=updated.func, a=updated.args[0].value)
                             .with_changes(args=[*updated.args, cst.Arg(cst.Name("False"), keyword=cst.Name("bias"),
                                                                       equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                                                                             cst.SimpleWhitespace("")))]))
        flipped = [a.with_changes(value=cst.Name("True" if code(a.value) == "False" else "False"))
                   if a.keyword is not None and a.keyword.value == "bias" else a for a in updated.args]
        return self.site(original, updated, updated.with_changes(args=flipped))


@operator("weight_transpose", "a layer's weight used transposed (or flipped: convolution, not cross-correlation)")
class WeightTranspose(Mutator):
    def leave_Call(self, original, updated):
        if not (self.computing and len(original.args) == 1):
            return updated
        ctor, layer, z = self.ctor_of(original.func), code(original.func), updated.args[0].value
        if ctor == "torch.nn.Linear":
            return self.site(original, updated, self.expr(f"$nn.functional.linear({{z}}, {layer}.weight.t(), {layer}.bias)", z=z))
        if ctor == "torch.nn.Conv1d":
            return self.site(original, updated, self.expr(
                f"$nn.functional.conv1d({{z}}, {layer}.weight.flip(-1), {layer}.bias, padding={layer}.padding)", z=z))
        if ctor == "torch.nn.Conv2d" and integer(_kernel_size(self.submodule_call(original))) != 1:  # 1x1: no transpose
            return self.site(original, updated, *[self.expr(
                f"$nn.functional.conv2d({{z}}, {layer}.weight.{how}, {layer}.bias, padding={layer}.padding)", z=z)
                for how in ("transpose(2, 3)", "flip(2, 3)")])
        return updated


@operator("weight_swap", "two layers of the same kind swapped where forward uses them")
class WeightSwap(Mutator):
    def leave_ClassDef(self, original, updated):
        info = self.scan.classes.get(original.name.value)
        kinds: dict[str, list[str]] = {}
        for attr in (info.submodules if info else ()):
            ctor = self.scan.ctor(original.name.value, attr)
            if self.scan.weighted(ctor) and ctor not in self.scan.classes:
                kinds.setdefault(ctor, []).append(attr)
        pairs = [(a, b) for attrs in kinds.values() for i, a in enumerate(attrs) for b in attrs[i + 1:]]
        return self.site(original, updated, *[_swap_in_methods(updated, {a: b, b: a}) for a, b in pairs],
                         before=f"class {original.name.value}", afters=[f"self.{a} and self.{b} swapped in forward" for a, b in pairs])


@operator("registration_order", "two weighted submodules registered in the other order (weights load into the wrong one)")
class RegistrationOrder(Mutator):
    def leave_FunctionDef(self, original, updated):
        if original.name.value != "__init__" or self.info is None:
            return updated
        weighted = [a for a in self.info.submodules if self.scan.weighted(self.scan.ctor(self.cls, a))]
        lines = list(updated.body.body)
        where = {a: next(i for i, line in enumerate(lines) if _assigns(line, a)) for a in weighted}
        alternatives = []
        for a, b in zip(weighted, weighted[1:]):
            swapped = list(lines)
            swapped[where[a]], swapped[where[b]] = lines[where[b]], lines[where[a]]
            alternatives.append(updated.with_changes(body=updated.body.with_changes(body=swapped)))
        return self.site(original, updated, *alternatives, before=f"{self.cls}.__init__",
                         afters=[f"self.{b} registered before self.{a}" for a, b in zip(weighted, weighted[1:])])


def _assigns(line, attr: str) -> bool:
    return isinstance(line, cst.SimpleStatementLine) and any(
        isinstance(s, cst.Assign) and isinstance(s.targets[0].target, cst.Attribute)
        and code(s.targets[0].target) == f"self.{attr}" for s in line.body)


def _swap_in_methods(classdef: cst.ClassDef, mapping: dict[str, str]) -> cst.ClassDef:
    """The class with self.<a> and self.<b> exchanged in every method but __init__."""

    class Rename(cst.CSTTransformer):
        def leave_Attribute(self, original, updated):
            if isinstance(original.value, cst.Name) and original.value.value == "self" and original.attr.value in mapping:
                return updated.with_changes(attr=cst.Name(mapping[original.attr.value]))
            return updated

    body = [m.visit(Rename()) if isinstance(m, cst.FunctionDef) and m.name.value != "__init__" else m
            for m in classdef.body.body]
    return classdef.with_changes(body=classdef.body.with_changes(body=body))
