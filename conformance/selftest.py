"""``attncert selftest``: the harness measures its own strength by mutation.

Mutants are generated from the bundled reference (``impl/reference.py``) by libcst transformers:
``OPERATORS`` maps an operator's name to its transformer class and a description of what it
breaks. A transformer walks the reference and records its sites (nodes it can replace, each with
one or more alternatives); every alternative at every site is one mutant, with the stable id
``<operator>-<Class or function>-<n>`` (n counts that operator's sites in that scope). A mutant is
a complete copy of the reference with one change and a docstring saying what it breaks, written
to ``.attncert/selftest/mutants/<id>.py`` under the current folder (stale files removed first),
where it plugs in like any adapter: ``attncert certify .attncert/selftest/mutants/<id>.py``.

A mutant is certified, in one worker pool for all of them, for the blocks it can affect: those
whose module tree (each factory of the ORIGINAL reference built with the spec's defaults and 64
channels) contains the class where the change happened; a module-level function affects the
classes that call it. It is killed when any clause fails. Two modes:

- ``first`` (both profiles, with or without ``--subset``): the clauses that kill most run first
  (``CLAUSE_ORDER``) and a mutant's run stops at its first failure. Per-clause counts are then
  "first killer in that order".
- ``all``: every clause of the affected blocks, so per-clause counts are exact (``--all-clauses``).
  Measured on 2 cores: about 10 s per mutant under ci (9 min for the subset, ~50 min for all of
  them); under thorough, hours. Hence not the default of either profile.

A mutant no clause kills is compared with the float64 oracle in a child process (a mutant may
crash or hang): outputs in eval and train mode, the input left unchanged, the parameter count and
(float64, at smooth points) the input gradient, on many cases: edge channel counts, sides up to
40, every dtype, layout and kind of values, input and weight scales up to 2^10 (saturated gates).
A difference makes it a survivor, a gap of the harness; none makes it equivalent, with the
operator's reason where it declares one, else "no difference on N inputs".

Exit status: 0 when killed / (mutants - equivalent) meets the profile's goal (ci 98 %, thorough
100 %), 1 otherwise, 2 on usage errors, 128 + the signal number when interrupted (the report
then covers the mutants that finished).
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import libcst as cst
from libcst.helpers import get_full_name_for_node, parse_template_expression

from .runner import RunOptions
from .targets import IMPL_DIR

REFERENCE = IMPL_DIR / "reference.py"
DEFAULT_FOLDER = Path(".attncert") / "selftest" / "mutants"
GOALS = {"ci": 0.98, "thorough": 1.0}
SUBSET_SIZE = 56  # every operator and block, then more per operator: ~30 s with 2 workers
CHECK_INPUTS = {"ci": 200, "thorough": 500}  # oracle-check cases per affected block of a survivor
CHECK_TIMEOUT = 600.0
TIMED_OUT = "no result within the"  # how the pool reports a clause that ran out of time

# Stop-at-first-failure order: the oracle's output catches most changes and its input gradient
# most of the rest (detach, in-place); the bookkeeping clauses are cheap; the rest follow.
CLAUSE_ORDER = (
    "oracle.output", "oracle.input_grad", "params.count", "weights.transfer", "construct", "shape.preserved",
    "invariant.bounded", "input.unmutated", "layout.equivalent", "invariant.batch_independent", "deterministic",
    "invariant.train_eval", "invariant.zero", "invariant.kernel_size", "invariant.spatial_permutation",
    "invariant.channel_permutation", "invariant.composition", "oracle.param_grad", "dtype.preserved",
    "device.preserved", "gradcheck", "gradgradcheck", "cuda.agreement",
)


# ================================================================ reading the reference
def _name(node) -> str | None:
    return get_full_name_for_node(node) if node is not None else None


def _expr(template: str, **nodes):
    return parse_template_expression(template, **nodes)


def _code(node) -> str:
    """A node's source on one line, shortened (for descriptions)."""
    text = " ".join(cst.Module([]).code_for_node(node).split())
    return text if len(text) <= 90 else text[:87] + "..."


@dataclass
class ClassInfo:
    submodules: dict[str, cst.Call] = field(default_factory=dict)  # attr -> its constructor call, in registration order
    init_params: list[str] = field(default_factory=list)
    input_name: str = "x"  # forward's input


class Inventory:
    """A pre-scan of the reference: its classes, their submodules, and who calls which function."""

    def __init__(self, module: cst.Module):
        self.classes: dict[str, ClassInfo] = {}
        self.calls: dict[str, set[str]] = {}  # top-level class or function -> the names it calls
        for statement in module.body:
            if isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
                self.calls[statement.name.value] = {_name(c.func) for c in _find(statement, cst.Call)}
            if not isinstance(statement, cst.ClassDef):
                continue
            info = self.classes[statement.name.value] = ClassInfo()
            for method in statement.body.body:
                if not isinstance(method, cst.FunctionDef):
                    continue
                names = [p.name.value for p in method.params.params]
                if method.name.value == "forward" and len(names) > 1:
                    info.input_name = names[1]
                if method.name.value == "__init__":
                    info.init_params = names[1:]
                    for assign in _find(method, cst.Assign):
                        target = _name(assign.targets[0].target) or ""
                        if target.startswith("self.") and isinstance(assign.value, cst.Call):
                            info.submodules[target[5:]] = assign.value

    def ctor(self, cls: str | None, attr: str) -> str | None:
        """The constructor of ``self.<attr>`` in class ``cls``: "nn.Linear", "ChannelAttention", ..."""
        call = self.classes[cls].submodules.get(attr) if cls in self.classes else None
        return _name(call.func) if call is not None else None

    def weighted(self, ctor: str | None) -> bool:
        """A submodule with parameters: a torch.nn layer with weights, or one of the reference's classes."""
        return bool(ctor) and (ctor.split(".")[-1].startswith(("Linear", "Conv", "BatchNorm")) or ctor in self.classes)

    def callers(self, scope: str) -> set[str]:
        """The classes whose code reaches ``scope`` (itself, if a class; else through the functions calling it)."""
        found, frontier, seen = set(), {scope}, set()
        while frontier:
            name = frontier.pop()
            seen.add(name)
            if name in self.classes:
                found.add(name)
            frontier |= {s for s, called in self.calls.items() if name in called and s not in seen}
        return found


def _find(node, kind) -> list:
    found = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, n) -> bool:
            if isinstance(n, kind):
                found.append(n)
            return True

    node.visit(Finder())
    return found


def _is_guard(node: cst.If) -> bool:
    """``if ...: raise``: validation of the constructor's arguments."""
    return any(isinstance(s, cst.SimpleStatementLine) and any(isinstance(x, cst.Raise) for x in s.body)
               for s in getattr(node.body, "body", ()))


# ================================================================ the operators
@dataclass(frozen=True)
class Site:
    scope: str  # the class (or module-level function) that holds the change
    method: str
    before: str
    after: str
    equivalent: str | None = None  # the operator's reason when it knows the change is harmless


ADAPTIVE_POOLS = ("nn.AdaptiveAvgPool2d", "nn.AdaptiveMaxPool2d")


class Mutator(cst.CSTTransformer):
    """Base of the operators: walks the reference without changing it and records its sites.

    ``site(original, updated, *alternatives)`` records each alternative replacement of a node,
    with the node's ancestors: a mutant is then made by replacing that node along its path only.
    Parameter defaults and validation guards (``if ...: raise``) are not walked (the factories
    pass every keyword; a guard only rejects input outside the spec) unless ``walk_guards``.
    """

    walk_guards = False

    def __init__(self, info: Inventory):
        super().__init__()
        self.info = info
        self.sites: list[Site] = []
        self.replacements: list[tuple[cst.CSTNode, cst.CSTNode, frozenset[int]]] = []
        self.stack: list[cst.CSTNode] = []
        self.scopes: list[tuple[str, str]] = []  # ("class" | "def", name)
        self.not_expressions: set[int] = set()  # Name nodes that are attribute names or keywords

    def on_visit(self, node) -> bool:
        self.stack.append(node)
        if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
            self.scopes.append(("class" if isinstance(node, cst.ClassDef) else "def", node.name.value))
        if isinstance(node, cst.Attribute):
            self.not_expressions.add(id(node.attr))
        if isinstance(node, cst.Arg) and node.keyword is not None:
            self.not_expressions.add(id(node.keyword))
        if isinstance(node, cst.Param) or (isinstance(node, cst.If) and not self.walk_guards and _is_guard(node)):
            return False
        return super().on_visit(node)

    def on_leave(self, original, updated):
        result = super().on_leave(original, updated)
        if isinstance(original, (cst.ClassDef, cst.FunctionDef)):
            self.scopes.pop()
        self.stack.pop()
        return result

    def site(self, original, updated, *alternatives, equivalent: str | None = None, before: str | None = None,
             afters: Iterable[str] | None = None):
        afters = list(afters) if afters is not None else [_code(a) for a in alternatives]
        ancestors = frozenset(id(n) for n in self.stack)
        for alternative, after in zip(alternatives, afters):
            self.sites.append(Site(self.scope, self.method, before or _code(original), after, equivalent))
            self.replacements.append((original, alternative, ancestors))
        return updated

    # ------------------------------------------------ where the walk is
    @property
    def cls(self) -> str | None:
        return next((name for kind, name in reversed(self.scopes) if kind == "class"), None)

    @property
    def method(self) -> str:
        return next((name for kind, name in reversed(self.scopes) if kind == "def"), "")

    @property
    def scope(self) -> str:
        return self.cls or (self.scopes[0][1] if self.scopes else "<module>")

    @property
    def computing(self) -> bool:
        """In forward-like code: a method other than __init__, or a module-level function."""
        return bool(self.scopes) and self.method != "__init__"

    @property
    def input_name(self) -> str:
        return self.info.classes[self.cls].input_name if self.cls in self.info.classes else "x"

    # ------------------------------------------------ the kinds of sites operators share
    def ctor_of(self, expr) -> str | None:
        """The constructor of ``self.<attr>`` when ``expr`` is that attribute."""
        name = _name(expr) or ""
        return self.info.ctor(self.cls, name[5:]) if name.startswith("self.") and name.count(".") == 1 else None

    def ctor_call(self, node, *ctors: str) -> bool:
        """A submodule's construction in __init__ (nn.Linear(...), ...)."""
        return self.method == "__init__" and isinstance(node, cst.Call) and _name(node.func) in ctors

    def gate_call(self, node) -> bool:
        """A sigmoid applied in forward: self.sigmoid(z) (an nn.Sigmoid), z.sigmoid(), torch.sigmoid(z)."""
        if not (self.computing and isinstance(node, cst.Call)):
            return False
        return (self.ctor_of(node.func) == "nn.Sigmoid" or _name(node.func) == "torch.sigmoid"
                or (isinstance(node.func, cst.Attribute) and node.func.attr.value == "sigmoid" and not node.args))

    def pool_call(self, node) -> bool:
        """A pooling of forward's input: self.pool(x) (an adaptive pool), x.mean(...), x.amax(...)."""
        if not (self.computing and isinstance(node, cst.Call)):
            return False
        return self.ctor_of(node.func) in ADAPTIVE_POOLS or (
            isinstance(node.func, cst.Attribute) and node.func.attr.value in ("mean", "amax")
            and _name(node.func.value) == self.input_name)

    def reduction(self, node) -> tuple[int, ...] | None:
        """The dims of z.mean/amax/sum(dim=<int or tuple of ints>, ...) in forward, else None."""
        if not (self.computing and isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                and node.func.attr.value in ("mean", "amax", "sum")):
            return None
        dim = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "dim"), None)
        if isinstance(dim, cst.Integer):
            return (int(dim.value),)
        if isinstance(dim, cst.Tuple) and all(isinstance(e.value, cst.Integer) for e in dim.elements):
            return tuple(int(e.value.value) for e in dim.elements)
        return None

    def stage_call(self, node) -> cst.Call | None:
        """The inner call of self.a(self.b(x)) where a and b are both the reference's own blocks."""
        if not (self.computing and isinstance(node, cst.Call) and len(node.args) == 1):
            return None
        inner = node.args[0].value
        classes = self.info.classes
        if isinstance(inner, cst.Call) and len(inner.args) == 1 and self.ctor_of(node.func) in classes \
                and self.ctor_of(inner.func) in classes:
            return inner
        return None


def _with_dim(call: cst.Call, dims: tuple[int, ...]) -> cst.Call:
    value = _expr(str(dims[0]) if len(dims) == 1 else "(" + ", ".join(map(str, dims)) + ")")
    return call.with_changes(args=[a.with_changes(value=value) if a.keyword is not None and a.keyword.value == "dim" else a
                                   for a in call.args])


@dataclass(frozen=True)
class Operator:
    name: str
    transformer: type[Mutator]
    description: str  # what its mutants break


OPERATORS: dict[str, Operator] = {}


def register(name: str, description: str, **attributes) -> Callable[[type[Mutator]], type[Mutator]]:
    """Register a transformer (or, with ``attributes``, a variant of it) as the operator ``name``."""

    def register(transformer: type[Mutator]) -> type[Mutator]:
        variant = type(transformer.__name__, (transformer,), attributes) if attributes else transformer
        OPERATORS[name] = Operator(name, variant, description)
        return transformer

    return register


def operators() -> dict[str, Operator]:
    return OPERATORS


@register("pool_swap", "average pooling and max pooling swapped")
class PoolSwap(Mutator):
    def leave_Call(self, original, updated):
        swap = {"nn.AdaptiveAvgPool2d": "nn.AdaptiveMaxPool2d", "nn.AdaptiveMaxPool2d": "nn.AdaptiveAvgPool2d",
                "mean": "amax", "amax": "mean"}
        if self.ctor_call(original, *ADAPTIVE_POOLS):
            return self.site(original, updated, updated.with_changes(func=_expr(swap[_name(original.func)])))
        if self.pool_call(original) and self.ctor_of(original.func) is None:
            return self.site(original, updated, updated.with_changes(
                func=updated.func.with_changes(attr=cst.Name(swap[original.func.attr.value]))))
        return updated


@register("pool_axes", "pooling over the wrong axes")
class PoolAxes(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, *ADAPTIVE_POOLS) and original.args:
            wrong = {"1": ["(1, None)", "(None, 1)"], "(None, 1)": ["(1, 1)"], "(1, None)": ["(1, 1)"]}
            return self.site(original, updated, *[updated.with_changes(args=[updated.args[0].with_changes(value=_expr(w))])
                                                  for w in wrong.get(_code(original.args[0].value), [])])
        if self.reduction(original) == (2, 3):  # over H and W: one of them only, or the channels too
            return self.site(original, updated, _with_dim(updated, (3,)), _with_dim(updated, (1, 2, 3)))
        return updated


@register("batch_stats", "statistics over the batch instead of per sample")
class BatchStats(Mutator):
    def leave_Call(self, original, updated):
        ctor = self.ctor_of(original.func) if self.pool_call(original) else None
        if ctor in ADAPTIVE_POOLS:
            reduce = "amax" if "Max" in ctor else "mean"
            return self.site(original, updated, _expr(f"{{p}}.{reduce}(dim=0, keepdim=True)", p=updated))
        dims = self.reduction(original)
        if dims:
            return self.site(original, updated, _with_dim(updated, (0, *dims)))
        return updated


@register("drop_branch", "a branch dropped (a pooling branch, a gate factor, a CBAM stage)")
class DropBranch(Mutator):
    def leave_BinaryOperation(self, original, updated):
        if not self.computing:
            return updated
        if (isinstance(original.operator, cst.Add) and isinstance(original.left, cst.Call)
                and isinstance(original.right, cst.Call) and _name(original.left.func) == _name(original.right.func)):
            return self.site(original, updated, updated.right, updated.left)  # mlp(max) + mlp(avg): one branch
        if (isinstance(original.operator, cst.Multiply) and isinstance(original.left, cst.BinaryOperation)
                and isinstance(original.left.operator, cst.Multiply)):  # x * a * b: one factor
            return self.site(original, updated, updated.with_changes(left=updated.left.left),
                             updated.left.with_changes(lpar=[], rpar=[]))
        return updated

    def leave_Call(self, original, updated):
        if self.computing and _name(original.func) == "torch.cat" and isinstance(original.args[0].value, cst.List):
            listed = updated.args[0].value
            alternatives = []
            for i, element in enumerate(listed.elements):  # one pooled map replaced by zeros
                zeros = element.with_changes(value=_expr("torch.zeros_like({e})", e=element.value))
                elements = [zeros if j == i else e for j, e in enumerate(listed.elements)]
                alternatives.append(updated.with_changes(
                    args=[updated.args[0].with_changes(value=listed.with_changes(elements=elements)), *updated.args[1:]]))
            return self.site(original, updated, *alternatives)
        inner = self.stage_call(original)
        if inner is not None:  # self.a(self.b(x)): one stage
            return self.site(original, updated, updated.args[0].value,
                             updated.with_changes(args=[updated.args[0].with_changes(value=inner.args[0].value)]))
        return updated


class SigmoidSwap(Mutator):
    ctor = functional = ""  # the replacement module, and the function for z.sigmoid() / torch.sigmoid(z)

    def leave_Call(self, original, updated):
        if self.ctor_call(original, "nn.Sigmoid"):
            return self.site(original, updated, _expr(self.ctor))
        if self.gate_call(original) and self.ctor_of(original.func) is None:
            return self.site(original, updated, _expr(self.functional, z=updated.args[0].value if updated.args else updated.func.value))
        return updated


for _kind, _ctor, _functional, _plain in (
    ("hardsigmoid", "nn.Hardsigmoid()", "nn.functional.hardsigmoid({z})", "a hard sigmoid"),
    ("tanh", "nn.Tanh()", "torch.tanh({z})", "tanh"),
    ("identity", "nn.Identity()", "{z}", "nothing (the logits themselves)"),
):
    register(f"sigmoid_{_kind}", f"the gate's sigmoid replaced by {_plain}", ctor=_ctor, functional=_functional)(SigmoidSwap)


class ReluSwap(Mutator):
    ctor = ""

    def leave_Call(self, original, updated):
        return self.site(original, updated, _expr(self.ctor)) if self.ctor_call(original, "nn.ReLU") else updated


for _kind, _ctor in (("identity", "nn.Identity()"), ("leakyrelu", "nn.LeakyReLU()"), ("gelu", "nn.GELU()")):
    register(f"relu_{_kind}", f"the hidden ReLU replaced by {_ctor[3:-2]}", ctor=_ctor)(ReluSwap)


@register("hswish_swap", "h-swish replaced by SiLU, ReLU or nothing")
class HswishSwap(Mutator):
    def leave_Call(self, original, updated):
        if self.ctor_call(original, "nn.Hardswish"):
            return self.site(original, updated, _expr("nn.SiLU()"), _expr("nn.ReLU()"), _expr("nn.Identity()"))
        return updated


@register("hswish_constant", "a constant of h-swish t * clamp(t + 3, 0, 6) / 6 off by one")
class HswishConstant(Mutator):
    def leave_Call(self, original, updated):
        if self.computing and self.ctor_of(original.func) == "nn.Hardswish":
            forms = [(2, 6, 6), (4, 6, 6), (3, 5, 6), (3, 7, 6), (3, 6, 5), (3, 6, 7)]
            return self.site(original, updated, *[_expr(f"(lambda t: t * (t + {a}).clamp(0, {b}) / {c})({{z}})",
                                                        z=updated.args[0].value) for a, b, c in forms])
        return updated


@register("const_shift", "a numeric constant off by one (pool size, padding divisor, dims, indices, 8, 4, 0.5, ...)")
class ConstShift(Mutator):
    def leave_Integer(self, original, updated):
        if not self.scopes:
            return updated
        value = int(original.value)
        return self.site(original, updated, _expr(str(value + 1)), _expr(str(value - 1)))

    def leave_Float(self, original, updated):
        if not self.scopes:
            return updated
        value = float(original.value)
        return self.site(original, updated, _expr(repr(value + 1)), _expr(repr(value - 1)))


@register("param_shift", "a constructor parameter (ratio, b, gamma, kernel size, reduction, lambda) used off by one")
class ParamShift(Mutator):
    def leave_Name(self, original, updated):
        info = self.info.classes.get(self.cls)
        if (self.method != "__init__" or info is None or id(original) in self.not_expressions
                or original.value not in info.init_params or original.value == "in_channel"):
            return updated
        return self.site(original, updated, _expr("({n} + 1)", n=updated), _expr("({n} - 1)", n=updated))


@register("trunc_round", "truncation (int(), //) replaced by rounding or the ceiling")
class TruncRound(Mutator):
    def leave_Call(self, original, updated):
        if self.scopes and _name(original.func) == "int":
            z = updated.args[0].value
            return self.site(original, updated, _expr("round({z})", z=z), _expr("math.ceil({z})", z=z))
        return updated

    def leave_BinaryOperation(self, original, updated):
        if self.scopes and isinstance(original.operator, cst.FloorDivide):
            a, b = updated.left, updated.right
            return self.site(original, updated, _expr("round({a} / {b})", a=a, b=b), _expr("math.ceil({a} / {b})", a=a, b=b))
        return updated


@register("odd_removed", "the step that makes a kernel size odd removed")
class OddRemoved(Mutator):
    walk_guards = True

    def leave_IfExp(self, original, updated):  # t if t % 2 else t + 1  ->  t
        return self.site(original, updated, updated.body) if "% 2" in _code(original.test) else updated

    def leave_BooleanOperation(self, original, updated):  # k < 1 or k % 2 == 0  ->  k < 1
        if isinstance(original.operator, cst.Or) and "% 2" in _code(original.right):
            return self.site(original, updated, updated.left, equivalent=(
                "only the constructor's validation changes: the spec's domain has odd kernel sizes only"))
        return updated


@register("bias_toggle", "a layer's bias switched on (off where the reference has one)")
class BiasToggle(Mutator):
    def leave_Call(self, original, updated):
        if not self.ctor_call(original, "nn.Linear", "nn.Conv1d", "nn.Conv2d"):
            return updated
        if not any(a.keyword is not None and a.keyword.value == "bias" for a in original.args):
            return self.site(original, updated, _expr("{f}({a}, bias=False)", f=updated.func, a=updated.args[0].value)
                             .with_changes(args=[*updated.args, cst.Arg(cst.Name("False"), keyword=cst.Name("bias"),
                                                                       equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                                                                             cst.SimpleWhitespace("")))]))
        flipped = [a.with_changes(value=cst.Name("True" if _code(a.value) == "False" else "False"))
                   if a.keyword is not None and a.keyword.value == "bias" else a for a in updated.args]
        return self.site(original, updated, updated.with_changes(args=flipped))


@register("weight_transpose", "a layer's weight used transposed (or flipped: convolution, not cross-correlation)")
class WeightTranspose(Mutator):
    def leave_Call(self, original, updated):
        if not (self.computing and len(original.args) == 1):
            return updated
        ctor, layer, z = self.ctor_of(original.func), _code(original.func), updated.args[0].value
        if ctor == "nn.Linear":
            return self.site(original, updated, _expr(f"nn.functional.linear({{z}}, {layer}.weight.t(), {layer}.bias)", z=z))
        if ctor == "nn.Conv1d":
            return self.site(original, updated, _expr(
                f"nn.functional.conv1d({{z}}, {layer}.weight.flip(-1), {layer}.bias, padding={layer}.padding)", z=z))
        call = self.info.classes[self.cls].submodules[layer[5:]] if ctor == "nn.Conv2d" else None
        if call is not None and not (len(call.args) > 2 and _code(call.args[2].value) == "1"):  # a 1x1 kernel: no transpose
            return self.site(original, updated, *[_expr(
                f"nn.functional.conv2d({{z}}, {layer}.weight.{how}, {layer}.bias, padding={layer}.padding)", z=z)
                for how in ("transpose(2, 3)", "flip(2, 3)")])
        return updated


@register("weight_swap", "two layers of the same kind swapped where forward uses them")
class WeightSwap(Mutator):
    def leave_ClassDef(self, original, updated):
        info = self.info.classes.get(original.name.value)
        kinds: dict[str, list[str]] = {}
        for attr, call in (info.submodules.items() if info else ()):
            if self.info.weighted(_name(call.func)) and _name(call.func) not in self.info.classes:
                kinds.setdefault(_name(call.func), []).append(attr)
        pairs = [(a, b) for attrs in kinds.values() for i, a in enumerate(attrs) for b in attrs[i + 1:]]
        return self.site(original, updated, *[_swap_in_methods(updated, {a: b, b: a}) for a, b in pairs],
                         before=f"class {original.name.value}", afters=[f"self.{a} and self.{b} swapped in forward" for a, b in pairs])


@register("registration_order", "two weighted submodules registered in the other order (weights load into the wrong one)")
class RegistrationOrder(Mutator):
    def leave_FunctionDef(self, original, updated):
        if original.name.value != "__init__" or self.cls not in self.info.classes:
            return updated
        weighted = [a for a in self.info.classes[self.cls].submodules if self.info.weighted(self.info.ctor(self.cls, a))]
        lines = list(updated.body.body)
        where = {a: next(i for i, line in enumerate(lines) if _assigns(line, a)) for a in weighted}
        alternatives = []
        for a, b in zip(weighted, weighted[1:]):
            swapped = list(lines)
            swapped[where[a]], swapped[where[b]] = lines[where[b]], lines[where[a]]
            alternatives.append(updated.with_changes(body=updated.body.with_changes(body=swapped)))
        return self.site(original, updated, *alternatives, before=f"{self.cls}.__init__",
                         afters=[f"self.{b} registered before self.{a}" for a, b in zip(weighted, weighted[1:])])


@register("cat_order", "the order of a concatenation swapped")
class CatOrder(Mutator):
    def leave_Call(self, original, updated):
        if self.computing and _name(original.func) == "torch.cat" and isinstance(original.args[0].value, cst.List):
            listed = updated.args[0].value
            elements = [e.with_changes(comma=listed.elements[i].comma) for i, e in enumerate(reversed(listed.elements))]
            return self.site(original, updated, updated.with_changes(
                args=[updated.args[0].with_changes(value=listed.with_changes(elements=elements)), *updated.args[1:]]))
        return updated


@register("stage_order", "CBAM's stages applied in the other order")
class StageOrder(Mutator):
    def leave_Call(self, original, updated):
        inner = self.stage_call(original)
        if inner is None:
            return updated
        outer = updated.with_changes(args=[updated.args[0].with_changes(value=inner.args[0].value)])
        return self.site(original, updated, inner.with_changes(args=[inner.args[0].with_changes(value=outer)]))


@register("residual", "a residual added: x + block(x)")
class Residual(Mutator):
    def leave_Return(self, original, updated):
        if self.method == "forward" and self.cls and original.value is not None:
            return self.site(original, updated, updated.with_changes(value=_expr(f"{self.input_name} + {{v}}", v=updated.value)))
        return updated


@register("inplace_input", "an in-place operation on the input (x.mul_, x.sub_)")
class InplaceInput(Mutator):
    def leave_BinaryOperation(self, original, updated):
        method = {cst.Multiply: "mul_", cst.Subtract: "sub_"}.get(type(original.operator))
        if self.method == "forward" and method and _name(original.left) == self.input_name:
            return self.site(original, updated, _expr(f"{self.input_name}.{method}({{r}})", r=updated.right)
                             .with_changes(lpar=updated.lpar, rpar=updated.rpar))
        return updated


@register("detach_gate", "detach() in the gate path (no gradient through the gate or a pooling)")
class DetachGate(Mutator):
    def leave_Call(self, original, updated):
        if self.gate_call(original) or self.pool_call(original):
            return self.site(original, updated, _expr("{g}.detach()", g=updated))
        return updated


class GateCast(Mutator):
    method = ""

    def leave_Call(self, original, updated):
        return self.site(original, updated, _expr(f"{{g}}.{self.method}()", g=updated)) if self.gate_call(original) else updated


for _dtype, _method in (("float32", "float"), ("float16", "half"), ("bfloat16", "bfloat16")):
    register(f"gate_{_dtype}", f"the gate cast to {_dtype}", method=_method)(GateCast)


@register("dropout", "dropout on the gate in train mode")
class Dropout(Mutator):
    def leave_Call(self, original, updated):
        if self.gate_call(original):
            return self.site(original, updated, _expr("nn.functional.dropout({g}, 0.1, self.training)", g=updated))
        return updated


# reshape() in the same places is an equivalent mutant (it copies when it must): not generated,
# since an equivalent costs a full certification of its blocks (minutes under thorough).
@register("view_on_input", "the input flattened with view() to pool it (fails on non-contiguous inputs)")
class ViewOnInput(Mutator):
    def leave_Call(self, original, updated):
        if not self.pool_call(original):
            return updated
        x = self.input_name
        flat = f"{x}.view({x}.shape[0], {x}.shape[1], -1)"
        ctor = self.ctor_of(original.func)
        if ctor is not None:
            if _code(self.info.classes[self.cls].submodules[_code(original.func)[5:]].args[0].value) != "1":
                return updated  # coordinate attention's strip pools are not global poolings
            return self.site(original, updated, _expr(f"{flat}.{'amax' if 'Max' in ctor else 'mean'}(-1)[:, :, None, None]"))
        reduce, dims = original.func.attr.value, self.reduction(original)
        if dims == (2, 3):
            return self.site(original, updated, _expr(f"{flat}.{reduce}(-1)[:, :, None, None]"))
        if dims == (1,):
            return self.site(original, updated, _expr(f"{flat}.{reduce}(1).view({x}.shape[0], 1, {x}.shape[2], {x}.shape[3])"))
        return updated


@register("log_base", "the logarithm's base changed (log2 -> ln, log10, log3)")
class LogBase(Mutator):
    def leave_Call(self, original, updated):
        if _name(original.func) == "math.log2":
            z = updated.args[0].value
            return self.site(original, updated, _expr("math.log({z})", z=z), _expr("math.log10({z})", z=z),
                             _expr("math.log({z}, 3)", z=z))
        return updated


class _Replace(cst.CSTTransformer):
    """Replace one node, walking only the path to it."""

    def __init__(self, node, replacement, ancestors: frozenset[int]):
        super().__init__()
        self.node, self.replacement, self.ancestors = node, replacement, ancestors

    def on_visit(self, node) -> bool:
        return id(node) in self.ancestors

    def on_leave(self, original, updated):
        return self.replacement if original is self.node else updated


def _assigns(line, attr: str) -> bool:
    return isinstance(line, cst.SimpleStatementLine) and any(
        isinstance(s, cst.Assign) and _name(s.targets[0].target) == f"self.{attr}" for s in line.body)


def _swap_in_methods(classdef: cst.ClassDef, mapping: dict[str, str]) -> cst.ClassDef:
    """The class with self.<a> and self.<b> exchanged in every method but __init__."""

    class Rename(cst.CSTTransformer):
        def leave_Attribute(self, original, updated):
            if _name(original.value) == "self" and original.attr.value in mapping:
                return updated.with_changes(attr=cst.Name(mapping[original.attr.value]))
            return updated

    body = [m.visit(Rename()) if isinstance(m, cst.FunctionDef) and m.name.value != "__init__" else m
            for m in classdef.body.body]
    return classdef.with_changes(body=classdef.body.with_changes(body=body))


# ================================================================ mutants
@dataclass
class Mutant:
    id: str
    operator: str
    scope: str
    description: str
    make: Callable[[], str] = field(repr=False)  # builds the source on first use (most runs need a subset)
    equivalent: str | None = None  # the operator's reason, when it knows
    blocks: list[str] = field(default_factory=list)
    _source: str | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        if self._source is None:
            self._source = self.make()
        return self._source


def _docstring(text: str) -> cst.SimpleStatementLine:
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return cst.SimpleStatementLine([cst.Expr(cst.SimpleString(f'"""{body}\n"""'))])


def generate(reference: Path = REFERENCE, only: Iterable[str] | None = None) -> list[Mutant]:
    """Every mutant of the reference (or ``only`` these ids), in operator and site order.

    Sites are found per top-level statement; a mutant's source is the reference's code with that
    statement regenerated (printing the whole module for each of some 300 mutants costs seconds).
    """
    module = cst.parse_module(Path(reference).read_text(encoding="utf-8"))
    info = Inventory(module)
    nodes = [*module.header, *module.body, *module.footer]
    parts = [module.code_for_node(node) for node in nodes]
    assert "".join(parts) == module.code, "libcst does not print the reference statement by statement"
    first = len(module.header)
    wanted = set(only) if only is not None else None
    mutants = []
    for name, op in OPERATORS.items():
        counts: dict[str, int] = {}
        for position, statement in enumerate(module.body):
            if not isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
                continue
            finder = op.transformer(info)
            statement.visit(finder)
            for site, replacement in zip(finder.sites, finder.replacements):
                counts[site.scope] = counts.get(site.scope, 0) + 1
                mutant_id = f"{name}-{site.scope}-{counts[site.scope]}"
                if wanted is not None and mutant_id not in wanted:
                    continue
                where = site.scope if site.method in ("", site.scope) else f"{site.scope}.{site.method}"
                text = f"{op.description}: in {where}, `{site.before}` -> `{site.after}`"

                def make(statement=statement, position=position, replacement=replacement, mutant_id=mutant_id, text=text):
                    code = list(parts)
                    code[first + position] = module.code_for_node(statement.visit(_Replace(*replacement)))
                    if code[first + position] == parts[first + position]:
                        raise AssertionError(f"{mutant_id} does not change the code")
                    doc = module.code_for_node(_docstring(f"Mutant {mutant_id} of attncert's reference implementation: {text}."))
                    if module.get_docstring() is not None:
                        code[first] = doc
                    else:
                        code.insert(first, doc)
                    return "".join(code)

                mutants.append(Mutant(mutant_id, name, site.scope, text, make, site.equivalent))
    return mutants


def affected_blocks(mutants: list[Mutant], class_blocks: dict[str, list[str]], reference: Path = REFERENCE) -> None:
    """Set each mutant's blocks: those (in spec order) whose module tree holds a class its change reaches."""
    info = Inventory(cst.parse_module(Path(reference).read_text(encoding="utf-8")))
    for mutant in mutants:
        classes = info.callers(mutant.scope)
        mutant.blocks = [block for block, tree in class_blocks.items() if classes & set(tree)]


def prepare(reference: Path = REFERENCE) -> list[Mutant]:
    """Every mutant with the blocks it affects. The blocks' module trees are built in a child process
    (torch is never imported here), started first so that it imports torch while libcst works here."""
    trees = _start(["trees", str(reference)])
    try:
        mutants = generate(reference)
        answer = _answer(trees, 120.0)
    finally:
        _kill(trees)
    if "error" in answer:
        raise RuntimeError(f"cannot build the reference's blocks: {answer['error']}")
    affected_blocks(mutants, answer["trees"], reference)
    return mutants


def subset(mutants: list[Mutant]) -> list[Mutant]:
    """The fixed CI subset: rounds over the operators, each taking the operator's mutant (never a
    declared-equivalent one) whose blocks are least covered so far, the earliest on a tie, up to
    SUBSET_SIZE; then the first mutant of any block still uncovered. The same ids every run for an
    unchanged reference."""
    by_operator: dict[str, list[Mutant]] = {}
    for m in mutants:
        if m.equivalent is None and m.blocks:
            by_operator.setdefault(m.operator, []).append(m)
    position = {m.id: i for i, m in enumerate(mutants)}
    covered = {b: 0 for m in mutants for b in m.blocks}
    chosen: dict[str, Mutant] = {}
    while len(chosen) < min(SUBSET_SIZE, sum(map(len, by_operator.values()))):
        for group in by_operator.values():
            left = [m for m in group if m.id not in chosen]
            if left and len(chosen) < SUBSET_SIZE:
                pick = min(left, key=lambda m: (min(covered[b] for b in m.blocks), position[m.id]))
                chosen[pick.id] = pick
                for b in pick.blocks:
                    covered[b] += 1
    for block, count in covered.items():
        if not count:
            first = next(m for m in mutants if block in m.blocks)
            chosen[first.id] = first
    return sorted(chosen.values(), key=lambda m: position[m.id])


def write_mutants(mutants: list[Mutant], folder: Path) -> dict[str, Path]:
    """Each mutant as <folder>/<id>.py (the mutant files of earlier runs removed first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.py"):
        stale.unlink()
    paths = {}
    for mutant in mutants:
        path = folder / f"{mutant.id}.py"
        path.write_text(mutant.source, encoding="utf-8")
        paths[mutant.id] = path.resolve()
    return paths


def unified_diff(mutant: Mutant, reference: Path = REFERENCE) -> str:
    """The mutant's change against the reference, its docstring aside (reference line numbers)."""
    original = Path(reference).read_text(encoding="utf-8")

    def docstring_end(text: str) -> int:
        tree = ast.parse(text)
        return tree.body[0].end_lineno if ast.get_docstring(tree) is not None else 0

    mutated = original.splitlines()[:docstring_end(original)] + mutant.source.splitlines()[docstring_end(mutant.source):]
    return "\n".join(difflib.unified_diff(original.splitlines(), mutated, "impl/reference.py", f"{mutant.id}.py",
                                          n=1, lineterm=""))


# ================================================================ certification
def order_tasks(tasks) -> list:
    """Clauses in CLAUSE_ORDER (any other last), each across the blocks in plan order."""
    blocks = list(dict.fromkeys(t.block for t in tasks))
    rank = {c: i for i, c in enumerate(CLAUSE_ORDER)}
    return sorted(tasks, key=lambda t: (rank.get(t.clause, len(rank)), blocks.index(t.block), t.declared))


@dataclass
class Record:
    id: str
    operator: str
    blocks: list[str]
    description: str
    status: str = "survived"  # killed | survived | equivalent
    killed_by: str | None = None  # block::clause: the first failure in clause order
    failing: list[str] = field(default_factory=list)  # every failing block::clause that ran
    timeouts: list[str] = field(default_factory=list)  # clauses that ran out of time: no verdict, not a kill
    message: str = ""
    seconds: float = 0.0
    equivalent_reason: str | None = None
    declared_equivalent: str | None = None
    check: dict | None = None  # the oracle check of a mutant no clause killed
    diff: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)


class _Options(RunOptions):
    """The run's options, but a failure is not shrunk: the selftest needs a verdict, not a minimal
    case (shrinking a thorough failure takes up to half the timeout)."""

    def worker_config(self) -> dict:
        return {**super().worker_config(), "shrink_budget": 1e-3}


def _certify_one(mutant: Mutant, path: Path, spec, options, pool, mode: str, stop: threading.Event) -> Record | None:
    """One mutant, one clause at a time on the lane's one-worker pool (None when stopped)."""
    from .runner import Certification
    from .targets import TargetError, resolve

    record = Record(mutant.id, mutant.operator, mutant.blocks, mutant.description, declared_equivalent=mutant.equivalent)
    start = time.monotonic()
    try:
        certification = Certification(resolve(str(path)), spec, replace(options, blocks=mutant.blocks), pool)
    except TargetError as err:  # it does not import, or provides none of its blocks: killed before any clause
        record.status, record.killed_by, record.failing, record.message = "killed", "import", ["import"], str(err)[:400]
        certification = None
    for task in order_tasks(certification.tasks) if certification else ():
        if stop.is_set():
            return None
        certification.run(only=[task])
        result = certification.results.get(task, {})
        if result.get("status") != "fail":
            continue
        name = f"{task.block}::{task.clause}"
        if str(result.get("message", "")).startswith(TIMED_OUT):  # too slow here is not wrong
            record.timeouts.append(name)
            continue
        record.failing.append(name)
        if record.status != "killed":
            record.status, record.killed_by = "killed", name
            record.message = " ".join(str(result.get("message", "")).split())[:400]
        if mode == "first":
            break
    record.seconds = round(time.monotonic() - start, 3)
    return None if stop.is_set() else record


def certify_mutants(mutants: list[Mutant], paths: dict[str, Path], options, jobs: int, mode: str,
                    report: Callable[[Record, int, int], None], records: list[Record]) -> None:
    """Certify each mutant for its blocks into ``records``, as they finish.

    ``jobs`` lanes, each a one-worker pool taking the next mutant: a mutant's clauses run one
    after another, so stopping at its first failure wastes nothing (with two workers on one
    mutant, the other clause in flight would run to its end, a minute under thorough). An
    ``Interrupted`` kills the clauses in flight and propagates; unfinished mutants stay out.
    """
    from .runner import Pool, default_memory_limit
    from .spec import load_spec

    spec = load_spec(options.spec_path)
    lanes = max(1, min(jobs, len(mutants)))
    options = replace(options, memory_limit=(options.memory_limit or default_memory_limit()) // lanes)
    todo: queue.Queue = queue.Queue()
    for mutant in mutants:
        todo.put(mutant)
    done: queue.Queue = queue.Queue()
    stop = threading.Event()
    pools: list = []

    def lane() -> None:
        try:
            with Pool(options, 1) as pool:
                pools.append(pool)
                while not stop.is_set():
                    try:
                        mutant = todo.get_nowait()
                    except queue.Empty:
                        return
                    done.put(_certify_one(mutant, paths[mutant.id], spec, options, pool, mode, stop))
        except BaseException as err:  # noqa: BLE001  (the main thread re-raises it)
            done.put(err)
        finally:
            done.put(StopIteration)

    threads = [threading.Thread(target=lane, daemon=True) for _ in range(lanes)]
    for thread in threads:
        thread.start()
    running = lanes
    try:
        while running:
            try:
                item = done.get(timeout=0.2)  # a timeout, so that a signal's exception is raised promptly
            except queue.Empty:
                continue
            if item is StopIteration:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            elif item is not None:
                records.append(item)
                report(item, len(records), len(mutants))
    except BaseException:
        stop.set()
        for pool in pools:  # the lanes' clauses in flight end now, reported as failures nobody reads
            for worker in list(pool.workers):
                worker.kill("interrupted")
        for thread in threads:
            thread.join(timeout=15)
        raise


# ================================================================ child processes (torch lives there)
def _start(arguments: list[str]) -> subprocess.Popen:
    """``python -m conformance.selftest ARGS``: its answer is one JSON line on stdout."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "conformance.selftest", *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _answer(process: subprocess.Popen, timeout: float) -> dict:
    """The child's JSON answer, or {"error": why}: a crash or a hang is an answer too."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer within {timeout:g} s (hang or far too slow)"}
    finally:
        _kill(process)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or [""])[-1]
        return {"error": f"the child process exited with status {process.returncode}" + (f": {tail}" if tail else "")}
    return json.loads(lines[-1])


def check_survivor(path: Path, blocks: list[str], inputs: int, seed: int = 0, timeout: float = CHECK_TIMEOUT) -> dict:
    """Compare a mutant with the float64 oracle on ``inputs`` cases per block, in a child process:
    {"differs": False, "inputs": n}, or {"differs": True, "block", "case", "message"} (a crash or a
    hang of the mutant is a difference too)."""
    return check_survivors([(path, blocks)], inputs, seed, 1, timeout)[0]


def check_survivors(items: list[tuple[Path, list[str]]], inputs: int, seed: int = 0, jobs: int = 1,
                    timeout: float = CHECK_TIMEOUT) -> list[dict]:
    """``check_survivor`` of each (path, blocks), ``jobs`` at a time; an interrupt kills the children."""
    from concurrent.futures import ThreadPoolExecutor

    started: list[subprocess.Popen] = []

    def one(item: tuple[Path, list[str]]) -> dict:
        process = _start(["check", str(item[0]), ",".join(item[1]), str(inputs), str(seed)])
        started.append(process)
        answer = _answer(process, timeout)
        return {"differs": True, "inputs": 0, "message": answer["error"]} if "error" in answer else answer

    executor = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        return list(executor.map(one, items))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        for process in started:
            _kill(process)
        executor.shutdown(wait=True)


def _probe_cases(block, count: int, seed: int):
    """Deterministic cases: defaults and random valid parameters, edge channel counts, sides 1 to 40
    (at most 200,000 elements), every dtype of the plain spec, layout and kind of values, and input
    and weight scales from 2^-10 to 2^10 (gates at 1/2, saturated gates)."""
    from .cases import LAYOUTS, VALUES, Case
    from .strategies import PRIMES

    rng = random.Random(f"{seed}|{block.name}")
    channels = sorted({1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512,
                       1024, *PRIMES[:12]})
    sides = (1, 1, 2, 2, 3, 4, 5, 7, 8, 12, 16, 40)
    scales = (1.0, 1.0, 1.0, 2.0**-10, 2.0**-4, 2.0**4, 2.0**8, 2.0**10)
    made = 0
    for _ in range(50 * count):
        if made == count:
            return
        kwargs: dict[str, Any] = {}
        for p in block.params:
            if p.name == "in_channel":
                kwargs[p.name] = 0  # drawn below, from the edges of the parameters drawn here
            elif p.type == "float":
                powers = [2.0**e for e in range(math.ceil(math.log2(p.minimum)), 5) if p.minimum <= 2.0**e <= (p.maximum or 16)]
                kwargs[p.name] = p.default if rng.random() < 0.4 or not powers else rng.choice(powers)
            else:
                high = p.maximum if p.maximum is not None else (p.default or p.minimum) + 8
                values = [v for v in range(p.minimum, high + 1) if not p.odd or v % 2]
                kwargs[p.name] = p.default if p.default is not None and rng.random() < 0.4 else rng.choice(values)
        divisor = kwargs.get("ratio") or kwargs.get("reduction")
        c = rng.choice(channels + ([divisor, divisor + 1, 2 * divisor - 1, 2 * divisor + 1, 3 * divisor] if divisor else []))
        if "in_channel" in kwargs:
            kwargs["in_channel"] = c
        shape = (rng.choice((1, 1, 2, 3, 4)), c, rng.choice(sides), rng.choice(sides))
        if (block.domain_violation(kwargs) is None and math.prod(shape) <= 200_000
                and block.input_violation(block.env(kwargs), shape) is None):
            made += 1
            yield Case(kwargs, shape, rng.choice(("float64", "float64", "float32")), rng.choice(LAYOUTS),
                       rng.randrange(2**31), rng.choice(scales), rng.choice(scales), rng.choice(VALUES))


# The clauses that compare a block with the spec and the oracle: a survivor is checked with their own code.
PROBE_CLAUSES = ("params.count", "oracle.output", "input.unmutated", "oracle.input_grad")


def _probe(subject, case) -> str | None:
    """What differs from the spec or the oracle on this case, "" if nothing, None if the case cannot
    judge (a kink, a value beyond the dtype's range): each of PROBE_CLAUSES where it applies (its
    dtypes, layouts and kinds of values), run as the engine runs it."""
    from .clauses import CLAUSES
    from .engine import _check
    from .subject import ClauseFailure, Unjudgeable

    for name in PROBE_CLAUSES:
        clause = CLAUSES[name]
        if case.dtype not in clause.dtypes or case.memory_format not in clause.layouts or case.values not in clause.values:
            continue
        try:
            _check(subject, clause, case)
        except Unjudgeable:
            return None
        except ClauseFailure as err:
            return f"{name}: {err}"
    return ""


def _check_main(path: str, blocks: str, inputs: int, seed: int) -> dict:
    from .spec import load_spec
    from .subject import Subject
    from .targets import TargetRef, load_adapter

    spec = load_spec()
    adapter = load_adapter(TargetRef(Path(path).stem, path), spec)
    judged = 0
    for name in blocks.split(","):
        subject = Subject(spec, spec.block(name), adapter)
        for case in _probe_cases(subject.block, inputs, seed):
            problem = _probe(subject, case)
            judged += problem is not None
            if problem:
                return {"differs": True, "inputs": judged, "block": name, "case": case.counterexample(), "message": problem}
    return {"differs": False, "inputs": judged}


def _trees_main(reference: str) -> dict:
    """block -> the class names in its factory's module tree (the spec's defaults, 64 channels)."""
    from .spec import load_spec
    from .targets import TargetRef, load_adapter

    spec = load_spec()
    adapter = load_adapter(TargetRef("reference", reference), spec)
    trees = {}
    for name, block in spec.blocks.items():
        if block.factory in adapter.factories:
            module = adapter.factories[block.factory](**{**block.defaults, **{p.name: 64 for p in block.params if p.default is None}})
            trees[name] = sorted({type(m).__name__ for m in module.modules()})
    return {"trees": trees}


# ================================================================ the report
def summarize(records: list[Record], generated: int, profile: str, mode: str, subset_run: bool, complete: bool,
              timings: dict[str, float]) -> dict:
    from .clauses import CLAUSES

    killed = [r for r in records if r.status == "killed"]
    equivalent = [r for r in records if r.status == "equivalent"]
    judged = len(records) - len(equivalent)
    rate = len(killed) / judged if judged else 1.0
    per_clause: dict[str, int] = {}  # clause -> mutants it killed (the first killer only, in mode "first")
    sole: dict[str, int] = {}  # clause -> mutants no other clause killed (mode "all")
    for r in killed:
        clauses = list(dict.fromkeys(c.split("::")[-1] for c in r.failing))
        for clause in clauses if mode == "all" else clauses[:1]:
            per_clause[clause] = per_clause.get(clause, 0) + 1
        if mode == "all" and len(clauses) == 1:
            sole[clauses[0]] = sole.get(clauses[0], 0) + 1
    tables: dict[str, dict[str, dict[str, int]]] = {"per_operator": {name: {} for name in OPERATORS}, "per_block": {}}
    for r in records:
        for table, key in [("per_operator", r.operator), *(("per_block", b) for b in r.blocks)]:
            row = tables[table].setdefault(key, {})
            row.update({s: row.get(s, 0) for s in ("mutants", "killed", "equivalent", "survived")})
            row["mutants"] += 1
            row[r.status] += 1
    return {
        "profile": profile,
        "mode": mode,
        "subset": subset_run,
        "complete": complete,
        "mutants": len(records),
        "killed": len(killed),
        "equivalent": len(equivalent),
        "survived": len(records) - len(killed) - len(equivalent),
        "kill_rate": rate,
        "goal": GOALS[profile],
        "meets_goal": rate >= GOALS[profile],
        "generated": generated,
        "seconds": round(sum(timings.values()), 1),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "per_clause": dict(sorted(per_clause.items(), key=lambda kv: -kv[1])),
        "per_clause_sole": dict(sorted(sole.items(), key=lambda kv: -kv[1])) if mode == "all" else None,
        "clauses_never_killing": [c for c in CLAUSES if c not in per_clause and c != "cuda.agreement"],
        "timeouts": _count(t for r in records for t in r.timeouts),
        "per_operator": {k: v for k, v in tables["per_operator"].items() if v},
        "per_block": tables["per_block"],
        "survivors": [_brief(r) for r in records if r.status == "survived"],
        "equivalents": [_brief(r) for r in equivalent],
        "records": [r.to_json() for r in records],
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _brief(r: Record) -> dict:
    return {"id": r.id, "operator": r.operator, "blocks": r.blocks, "description": r.description,
            "reason": r.equivalent_reason, "check": r.check, "diff": r.diff}


def markdown(summary: dict) -> str:
    every = summary["mode"] == "all"
    mode = ("every clause of the affected blocks (exact per-clause counts)" if every else
            "stop at the first failing clause, clauses in kill order (per-clause counts are first killers)")
    lines = [
        "# attncert selftest: mutation analysis of the harness", "",
        f"Profile **{summary['profile']}**, {'the CI subset' if summary['subset'] else 'every generated mutant'}; mode: {mode}."
        + ("" if summary["complete"] else " **Interrupted: the numbers cover the mutants that finished.**"), "",
        "| mutants | killed | equivalent | survived | kill rate | goal | time |", "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['mutants']} | {summary['killed']} | {summary['equivalent']} | {summary['survived']} | "
        f"{summary['kill_rate']:.1%} | {summary['goal']:.0%} | {summary['seconds']:.0f} s |", "",
        "Kill rate = killed / (mutants - equivalent). Time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in summary["timings"].items()) + ".", "",
        "## Survivors (harness gaps)", "",
    ]
    if not summary["survivors"]:
        lines += ["None: every non-equivalent mutant was killed.", ""]
    for s in summary["survivors"]:
        check = s["check"] or {}
        lines += [f"### {s['id']} ({', '.join(s['blocks'])})", "", s["description"], "",
                  f"Oracle check: {check.get('message', 'not checked')}" + (f" at `{json.dumps(check['case'])}`" if check.get("case") else ""),
                  "", "```diff", s["diff"], "```", ""]
    lines += ["## Equivalent mutants", ""] + (["None.", ""] if not summary["equivalents"] else [])
    for s in summary["equivalents"]:
        lines += [f"### {s['id']} ({', '.join(s['blocks'])})", "", s["description"], "", f"Why equivalent: {s['reason']}.",
                  "", "```diff", s["diff"], "```", ""]
    lines += ["## Which clause kills what", "", "| clause | mutants killed |" + (" only by this clause |" if every else ""),
              "|---|---:|" + ("---:|" if every else "")]
    for clause, count in summary["per_clause"].items():
        lines.append(f"| {clause} | {count} |" + (f" {(summary['per_clause_sole'] or {}).get(clause, 0)} |" if every else ""))
    lines += ["", "Clauses that killed no mutant" + ("" if every else " first") + ": "
              + (", ".join(summary["clauses_never_killing"]) or "none") + ".", ""]
    if summary["timeouts"]:
        lines += ["Clauses that ran out of time (--timeout; no verdict, not counted as kills): "
                  + ", ".join(f"{c} ({n} mutants)" for c, n in summary["timeouts"].items()) + ".", ""]
    for title, key in (("Per operator", "per_operator"), ("Per block", "per_block")):
        lines += [f"## {title}", "", "| | mutants | killed | equivalent | survived |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {row['mutants']} | {row['killed']} | {row['equivalent']} | {row['survived']} |"
                  for name, row in summary[key].items()]
        lines.append("")
    lines += ["## Every mutant", "", "| id | blocks | status | killed by | what it breaks |", "|---|---|---|---|---|"]
    for r in summary["records"]:
        text = r["description"].replace("|", "\\|")
        lines.append(f"| {r['id']} | {', '.join(r['blocks'])} | {r['status']} | {r['killed_by'] or ''} | {text} |")
    return "\n".join(lines) + "\n"


def print_summary(summary: dict, written: Iterable[str | None] = (), out=sys.stdout) -> None:
    print(f"attncert selftest ({summary['profile']}, {'subset' if summary['subset'] else 'all mutants'}, mode {summary['mode']}): "
          f"{summary['mutants']} mutants, {summary['killed']} killed, {summary['equivalent']} equivalent, "
          f"{summary['survived']} survived; kill rate {summary['kill_rate']:.1%} (goal {summary['goal']:.0%}) "
          f"in {summary['seconds']:.0f} s", file=out)
    print("  kills by clause: " + ", ".join(f"{c} {n}" for c, n in summary["per_clause"].items()), file=out)
    if summary["timeouts"]:
        print("  clauses out of time (no verdict): " + ", ".join(f"{c} {n}" for c, n in summary["timeouts"].items()), file=out)
    for s in summary["survivors"]:
        print(f"  SURVIVOR {s['id']} ({', '.join(s['blocks'])}): {s['description']}\n"
              f"    oracle check: {(s['check'] or {}).get('message')}", file=out)
    for s in summary["equivalents"]:
        print(f"  equivalent {s['id']}: {s['reason']}", file=out)
    for path in written:
        if path:
            print(f"  written: {path}", file=out)
    print(("PASS" if summary["meets_goal"] else "FAIL") + ("" if summary["complete"] else " (interrupted)"), file=out)


# ================================================================ the run
def classify(record: Record, check: dict | None, declared: str | None) -> None:
    """A mutant no clause killed: equivalent if the oracle check found no difference, else a survivor."""
    record.check = check or {"message": "not checked (interrupted)"}
    if check is not None and not check.get("differs"):
        record.status = "equivalent"
        record.equivalent_reason = declared or f"no difference from the oracle on {check['inputs']} inputs"


def run_selftest(profile: str = "ci", subset_only: bool = False, timeout: float = 60.0, folder: Path | None = None,
                 jobs: int | None = None, seed: int = 0, mode: str = "first", quiet: bool = True,
                 only: Iterable[str] | None = None, inputs: int | None = None,
                 mutants: list[Mutant] | None = None) -> tuple[dict, BaseException | None]:
    """Generate, certify, check what survives: the summary, and the interrupt that stopped the run (or None).

    ``only``: these mutant ids instead of the profile's selection; ``mutants``: already ``prepare()``d.
    """
    from .runner import Interrupted

    jobs = jobs or min(2, os.cpu_count() or 1)
    timings: dict[str, float] = {}
    start = time.monotonic()
    mutants = mutants if mutants is not None else prepare()
    chosen = [m for m in mutants if m.id in set(only)] if only is not None else subset(mutants) if subset_only else mutants
    paths = write_mutants(chosen, Path(folder) if folder else DEFAULT_FOLDER)
    timings["generate"] = time.monotonic() - start

    def report(record: Record, number: int, count: int) -> None:
        if not quiet:
            what = f"killed by {record.killed_by}" if record.status == "killed" else "no clause failed"
            print(f"[{number}/{count}] {record.id} ({', '.join(record.blocks)}): {what} ({record.seconds:.1f} s)",
                  file=sys.stderr, flush=True)

    records: list[Record] = []
    stop: BaseException | None = None
    start = time.monotonic()
    try:
        certify_mutants(chosen, paths, _Options(profile=profile, seed=seed, timeout=timeout, database=None), jobs, mode,
                        report, records)
    except Interrupted as err:
        stop = err
    timings["certify"] = time.monotonic() - start
    start = time.monotonic()
    by_id = {m.id: m for m in chosen}
    survivors = [r for r in records if r.status == "survived"]
    checks: list[dict | None] = [None] * len(survivors)
    if stop is None and survivors:
        if not quiet:
            print(f"checking {len(survivors)} mutants no clause killed against the oracle", file=sys.stderr, flush=True)
        try:
            checks = check_survivors([(paths[r.id], r.blocks) for r in survivors], inputs or CHECK_INPUTS[profile], seed, jobs)
        except Interrupted as err:
            stop = err
    for record, check in zip(survivors, checks):
        record.diff = unified_diff(by_id[record.id])
        classify(record, check, by_id[record.id].equivalent)
    timings["check"] = time.monotonic() - start
    complete = stop is None and len(records) == len(chosen)
    return summarize(records, len(mutants), profile, mode, subset_only, complete, timings), stop


def main_selftest(args) -> int:
    """``attncert selftest`` (the CLI has checked that the reports can be written): see the module docstring."""
    from .certificate import write_atomically

    summary, stop = run_selftest(args.profile, args.subset, args.timeout, jobs=args.jobs, seed=args.seed,
                                 mode="all" if args.all_clauses else "first", quiet=args.quiet)
    if args.json:
        write_atomically(args.json, json.dumps(summary, indent=2) + "\n")
    if args.markdown:
        write_atomically(args.markdown, markdown(summary))
    print_summary(summary, (args.json, args.markdown))
    if stop is not None:
        print(f"\nattncert: interrupted ({stop}); the report covers the {summary['mutants']} mutants that finished",
              file=sys.stderr)
        return 128 + stop.signum
    return 0 if summary["meets_goal"] else 1


if __name__ == "__main__":  # the children: python -m conformance.selftest trees REFERENCE | check PATH BLOCKS N SEED
    try:
        if sys.argv[1] == "trees":
            answer = _trees_main(sys.argv[2])
        else:
            answer = _check_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    except Exception as err:  # noqa: BLE001  (the mutant raised outside any guarded call: a difference)
        answer = {"error": f"{type(err).__name__}: {err}"}
    print(json.dumps(answer), flush=True)
