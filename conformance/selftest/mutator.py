"""The operators' base (``Mutator``) and their registry (``OPERATORS``).

A mutator walks the reference without changing it and records its sites: nodes it can replace,
each with one or more alternatives. An operator is a mutator family registered under a name, with
a description of what its mutants break and the family's keywords (``register``): a family
declares the keywords it takes, and a keyword may never be one of the base's own attributes, so
a registration cannot shadow the machinery it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Mapping

import libcst as cst
from libcst.helpers import parse_template_expression

from .scan import ReferenceScan

ADAPTIVE_POOLS = ("torch.nn.AdaptiveAvgPool2d", "torch.nn.AdaptiveMaxPool2d")
MODULES = {"$torch": "torch", "$nn": "torch.nn", "$F": "torch.nn.functional", "$math": "math"}


@dataclass(frozen=True)
class Site:
    scope: str  # the class (or module-level function) that holds the change
    method: str
    before: str
    after: str
    equivalent: str | None = None  # the operator's reason when it knows the change is harmless
    imports: tuple[str, ...] = ()  # import lines the replacement needs and the reference lacks


def code(node) -> str:
    """A node's source on one line, shortened (for descriptions)."""
    text = " ".join(cst.Module([]).code_for_node(node).split())
    return text if len(text) <= 90 else text[:87] + "..."


def integer(node) -> int | None:
    """The value of an integer literal, else None."""
    return int(node.value) if isinstance(node, cst.Integer) else None


class Mutator(cst.CSTTransformer):
    """Base of the operators (see the module docstring).

    ``site(original, updated, *alternatives)`` records each alternative replacement of a node,
    with the node's ancestors: a mutant is then made by replacing that node along its path only.
    Parameter defaults and validation guards (``if ...: raise``) are not walked (the factories
    pass every keyword; a guard only rejects input outside the spec) unless ``walk_guards``.
    """

    keywords: ClassVar[tuple[str, ...]] = ()  # what a family's registrations must set
    walk_guards: ClassVar[bool] = False
    # the state every walk keeps (declared, so that a family's keyword cannot take one of these names)
    scan: ReferenceScan
    sites: list[Site]
    replacements: list
    stack: list
    scopes: list[tuple[str, str]]
    not_expressions: set[int]
    needed: set[str]

    def __init__(self, scan: ReferenceScan, **keywords: Any):
        super().__init__()
        for name in self.keywords:
            setattr(self, name, keywords[name])
        self.scan = scan
        self.sites: list[Site] = []
        self.replacements: list[tuple[cst.CSTNode, cst.CSTNode, frozenset[int]]] = []
        self.stack: list[cst.CSTNode] = []
        self.scopes: list[tuple[str, str]] = []  # ("class" | "def", name)
        self.not_expressions: set[int] = set()  # Name nodes that are attribute names or keywords
        self.needed: set[str] = set()  # imports the alternatives built so far need

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
        afters = list(afters) if afters is not None else [code(a) for a in alternatives]
        ancestors = frozenset(id(n) for n in self.stack)
        imports, self.needed = tuple(sorted(self.needed)), set()
        for alternative, after in zip(alternatives, afters):
            self.sites.append(Site(self.scope, self.method, before or code(original), after, equivalent, imports))
            self.replacements.append((original, alternative, ancestors))
        return updated

    def expr(self, template: str, **nodes):
        """An expression from a template: ``{name}`` takes a node, ``$torch``, ``$nn``, ``$F`` and
        ``$math`` the reference's own spelling of those modules."""
        for placeholder, module in sorted(MODULES.items(), key=lambda kv: -len(kv[0])):
            if placeholder in template:
                spelled, needs = self.scan.spell(module)
                template = template.replace(placeholder, spelled)
                if needs:
                    self.needed.add(needs)
        return parse_template_expression(template, **nodes)

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
    def info(self):
        return self.scan.classes.get(self.cls)

    @property
    def input_name(self) -> str:
        return self.info.input_name if self.info else "x"

    # ------------------------------------------------ the kinds of sites operators share
    def calls(self, node, *qualified: str) -> bool:
        """A call of one of these functions or classes (by what the name refers to)."""
        return isinstance(node, cst.Call) and self.scan.qualified(node.func) in qualified

    def ctor_of(self, expr) -> str | None:
        """What builds ``self.<attr>`` when ``expr`` is that attribute."""
        if (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self"):
            return self.scan.ctor(self.cls, expr.attr.value)
        return None

    def ctor_call(self, node, *ctors: str) -> bool:
        """A submodule's construction in __init__ (nn.Linear(...), ...)."""
        return self.method == "__init__" and self.calls(node, *ctors)

    def submodule_call(self, node) -> cst.Call | None:
        """The constructor call of the submodule that ``node`` (a call of self.<attr>) runs."""
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and self.info is not None:
            return self.info.submodules.get(node.func.attr.value) if self.ctor_of(node.func) else None
        return None

    def method_call(self, node, *names: str) -> bool:
        """``<expr>.<name>(...)`` where the method is a tensor's (not a module's or an import's)."""
        return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in names
                and self.scan.qualified(node.func) is None and self.ctor_of(node.func) is None)

    def gate_call(self, node) -> bool:
        """A sigmoid applied in forward: self.sigmoid(z) (an nn.Sigmoid), z.sigmoid(), torch.sigmoid(z)."""
        if not (self.computing and isinstance(node, cst.Call)):
            return False
        return (self.ctor_of(node.func) == "torch.nn.Sigmoid" or self.calls(node, "torch.sigmoid", "torch.nn.functional.sigmoid")
                or (self.method_call(node, "sigmoid") and not node.args))

    def is_input(self, node) -> bool:
        return isinstance(node, cst.Name) and node.value == self.input_name

    def pool_call(self, node) -> bool:
        """A pooling of forward's input: self.pool(x) (an adaptive pool), x.mean(...), x.amax(...)."""
        if not (self.computing and isinstance(node, cst.Call)):
            return False
        return self.ctor_of(node.func) in ADAPTIVE_POOLS or (
            self.method_call(node, "mean", "amax") and self.is_input(node.func.value))

    def reduction(self, node) -> tuple[int, ...] | None:
        """The dims of z.mean/amax/sum(dim=<int or tuple of ints>, ...) in forward (keyword or first
        argument), else None."""
        if not (self.computing and self.method_call(node, "mean", "amax", "sum")):
            return None
        dim = _dim_arg(node)
        if dim is None:
            return None
        if integer(dim.value) is not None:
            return (integer(dim.value),)
        if isinstance(dim.value, cst.Tuple) and all(integer(e.value) is not None for e in dim.value.elements):
            return tuple(integer(e.value) for e in dim.value.elements)
        return None

    def stage_call(self, node) -> cst.Call | None:
        """The inner call of self.a(self.b(x)) where a and b are both the reference's own blocks."""
        if not (self.computing and isinstance(node, cst.Call) and len(node.args) == 1):
            return None
        inner = node.args[0].value
        classes = self.scan.classes
        if isinstance(inner, cst.Call) and len(inner.args) == 1 and self.ctor_of(node.func) in classes \
                and self.ctor_of(inner.func) in classes:
            return inner
        return None


def _dim_arg(call: cst.Call) -> cst.Arg | None:
    keyword = next((a for a in call.args if a.keyword is not None and a.keyword.value == "dim"), None)
    if keyword is not None:
        return keyword
    first = call.args[0] if call.args else None
    return first if first is not None and first.keyword is None else None


def with_dim(call: cst.Call, dims: tuple[int, ...]) -> cst.Call:
    """The reduction ``call`` over other dims."""
    value = parse_template_expression(str(dims[0]) if len(dims) == 1 else "(" + ", ".join(map(str, dims)) + ")")
    dim = _dim_arg(call)
    return call.with_changes(args=[a.with_changes(value=value) if a is dim else a for a in call.args])


def _is_guard(node: cst.If) -> bool:
    """``if ...: raise``: validation of the constructor's arguments."""
    return any(isinstance(s, cst.SimpleStatementLine) and any(isinstance(x, cst.Raise) for x in s.body)
               for s in getattr(node.body, "body", ()))


# ================================================================ the registry
@dataclass(frozen=True)
class Operator:
    name: str
    family: type[Mutator]
    description: str  # what its mutants break
    keywords: Mapping[str, Any] = field(default_factory=dict)

    def finder(self, scan: ReferenceScan) -> Mutator:
        return self.family(scan, **self.keywords)


OPERATORS: dict[str, Operator] = {}


def register(name: str, description: str, family: type[Mutator], **keywords: Any) -> None:
    """Register ``family`` as the operator ``name``, with exactly the keywords the family declares."""
    if name in OPERATORS:
        raise ValueError(f"operator {name!r} is registered twice")
    if set(keywords) != set(family.keywords):
        raise TypeError(f"operator {name!r}: {family.__name__} takes the keywords {sorted(family.keywords)}, "
                        f"got {sorted(keywords)}")
    shadowed = sorted(set(family.keywords) & (set(dir(Mutator)) | set(Mutator.__annotations__)))
    if shadowed:
        raise TypeError(f"{family.__name__}'s keywords {shadowed} would hide attributes of Mutator")
    OPERATORS[name] = Operator(name, family, description, dict(keywords))


def operator(name: str, description: str) -> Callable[[type[Mutator]], type[Mutator]]:
    """Register a family without keywords as one operator (a class decorator)."""

    def add(family: type[Mutator]) -> type[Mutator]:
        register(name, description, family)
        return family

    return add
