"""A small, safe expression language for the spec's formulas.

Formulas such as ``C // ratio``, ``odd_up(trunc(abs((log2(C) + b) / gamma)))`` or ``kernel_size in
(3, 7)`` are parsed with ``ast`` and interpreted node by node against a whitelist: no ``eval()``, no
attribute access, no subscripts, no lambdas or comprehensions, tuples only as the right side of
``in``, only the functions in ``FUNCTIONS``. Work is bounded:
the source length, the nesting depth and the size of every intermediate integer are capped, so
``9**9**9`` is an error rather than a hang.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Union

Value = Union[int, float, bool, str]

MAX_SOURCE_CHARS = 400
MAX_DEPTH = 24
MAX_INT_BITS = 128
MAX_EXPONENT = 64


class ExprError(ValueError):
    """A formula that cannot be parsed or evaluated; ``column`` is 0-based within the formula."""

    def __init__(self, message: str, source: str = "", column: int | None = None):
        self.message = message
        self.source = source
        self.column = column
        where = f" (at column {column + 1})" if column is not None else ""
        super().__init__(f"{message}{where} in formula {source!r}" if source else message)


def _number(name: str, value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"{name}() takes numbers, got {type(value).__name__}")
    return value


def _odd_up(value: object) -> int:
    """The odd integer at or above ``value`` (ECA: an even kernel becomes the next odd one)."""
    n = math.ceil(_number("odd_up", value))
    return n if n % 2 else n + 1


def _make_divisible(value: object, divisor: object, round_limit: object = 0) -> int:
    """timm's rounding of a hidden width to the nearest multiple of ``divisor`` (at least one), one
    ``divisor`` more where that fell below ``round_limit`` times the value (timm's default 0.9; 0 by
    default here, as timm's squeeze-excitation and global-context layers call it)."""
    v, d = _number("make_divisible", value), _number("make_divisible", divisor)
    limit = _number("make_divisible", round_limit)
    if not isinstance(d, int) or d < 1:
        raise ExprError("make_divisible() needs a positive integer divisor")
    rounded = max(d, int(v + d / 2) // d * d)
    return rounded + d if rounded < limit * v else rounded


def _log2(value: object) -> float:
    v = _number("log2", value)
    if v <= 0:
        raise ExprError(f"log2() of a non-positive number ({v})")
    return math.log2(v)


def _min(*values: object) -> int | float:
    if not values:
        raise ExprError("min() needs at least one argument")
    return min(_number("min", v) for v in values)


def _max(*values: object) -> int | float:
    if not values:
        raise ExprError("max() needs at least one argument")
    return max(_number("max", v) for v in values)


FUNCTIONS: Mapping[str, Callable[..., Value]] = {
    "abs": lambda v: abs(_number("abs", v)),
    "trunc": lambda v: math.trunc(_number("trunc", v)),
    "floor": lambda v: math.floor(_number("floor", v)),
    "ceil": lambda v: math.ceil(_number("ceil", v)),
    "log2": _log2,
    "odd_up": _odd_up,
    "make_divisible": _make_divisible,
    "min": _min,
    "max": _max,
}

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


@dataclass(frozen=True)
class Expr:
    """A parsed formula: ``Expr.parse(text).evaluate(names)``."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    @classmethod
    def parse(cls, source: object) -> "Expr":
        if isinstance(source, int) and not isinstance(source, bool) and source.bit_length() > MAX_INT_BITS:
            raise ExprError(f"integer literal exceeds {MAX_INT_BITS} bits")
        if isinstance(source, (int, float)):
            source = repr(source)
        if not isinstance(source, str):
            raise ExprError(f"a formula must be a string or a number, not {type(source).__name__}")
        if len(source) > MAX_SOURCE_CHARS:
            raise ExprError(f"formula longer than {MAX_SOURCE_CHARS} characters", source[:40] + "...")
        try:
            with warnings.catch_warnings():  # "1e" or "2if": Python warns on stderr; the spec's error says it
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(source.strip(), mode="eval").body
        except SyntaxError as err:
            raise ExprError(f"syntax error: {err.msg}", source, (err.offset or 1) - 1) from None
        except (ValueError, RecursionError, MemoryError) as err:
            raise ExprError(f"cannot parse: {err}", source) from None
        names: set[str] = set()
        _check(tree, source, names, depth=0)
        return cls(source, tree, frozenset(names))

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        missing = sorted(self.names - env.keys())
        if missing:
            raise ExprError(f"unknown name {missing[0]!r} (known: {', '.join(sorted(env)) or 'none'})", self.source)
        try:
            return _eval(self.tree, env, self.source)
        except ExprError as err:
            if err.source:
                raise
            raise ExprError(err.message, self.source, err.column) from None
        except (ArithmeticError, ValueError, TypeError, OverflowError) as err:
            raise ExprError(f"{type(err).__name__}: {err}", self.source) from None

    @functools.cached_property  # read for every parameter of every explicit case a search builds
    def pinned(self) -> dict[str, tuple]:
        """The names that a top-level conjunct ``name in (a, b, ...)`` or ``name == a`` pins to literal
        values, so the strategies draw them from there instead of rejecting every other value."""
        tree = self.tree
        conjuncts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
        pinned: dict[str, tuple] = {}
        for node in conjuncts:
            if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and len(node.ops) == 1
                    and isinstance(node.ops[0], ast.In)):
                values = tuple(element.value for element in node.comparators[0].elts)  # literals: _check
                pinned[node.left.id] = tuple(v for v in pinned.get(node.left.id, values) if v in values)
            elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and len(node.ops) == 1
                    and isinstance(node.ops[0], ast.Eq) and isinstance(node.comparators[0], ast.Constant)):
                value = node.comparators[0].value
                pinned[node.left.id] = tuple(v for v in pinned.get(node.left.id, (value,)) if v == value)
        return pinned

    @functools.cached_property
    def multiples(self) -> dict[str, tuple["Expr", ...]]:
        """The names that a top-level conjunct ``name % e == 0`` makes multiples of the formula ``e``
        (a grouped convolution's ``in_channel % G == 0``), so the strategies draw multiples instead
        of rejecting every other value."""
        tree = self.tree
        conjuncts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
        found: dict[str, tuple[Expr, ...]] = {}
        for node in conjuncts:
            if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
                    and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Mod)
                    and isinstance(node.left.left, ast.Name) and isinstance(node.comparators[0], ast.Constant)
                    and node.comparators[0].value == 0):
                step = node.left.right
                names = frozenset(n.id for n in ast.walk(step) if isinstance(n, ast.Name) and n.id not in ("True", "False"))
                factor = Expr(ast.get_source_segment(self.source.strip(), step) or ast.unparse(step), step, names)
                found[node.left.left.id] = found.get(node.left.left.id, ()) + (factor,)
        return found

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


def evaluate(source: str, env: Mapping[str, Value]) -> Value:
    """Parse and evaluate in one step (for one-off formulas)."""
    return Expr.parse(source).evaluate(env)


def _forbid(node: ast.AST, source: str, what: str) -> ExprError:
    return ExprError(f"{what} is not allowed", source, getattr(node, "col_offset", None))


def _check(node: ast.AST, source: str, names: set[str], depth: int) -> None:
    """Reject every construct outside the whitelist before anything is evaluated."""
    if depth > MAX_DEPTH:
        raise ExprError(f"formula nested deeper than {MAX_DEPTH} levels", source, getattr(node, "col_offset", None))
    children: list[ast.AST]
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str)) or node.value is None:
            raise _forbid(node, source, f"the constant {node.value!r}")
        _bounded(node.value, node, source)  # literals obey the same bounds as results
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _forbid(node, source, f"the name {node.id!r}")
        if node.id in ("True", "False"):
            return
        names.add(node.id)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise _forbid(node, source, f"the operator {type(node.op).__name__}")
        children = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise _forbid(node, source, f"the operator {type(node.op).__name__}")
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare):
        children = [node.left]
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                # membership only in a literal tuple of constants: `kernel_size in (3, 7)`
                if not isinstance(right, ast.Tuple) or not all(isinstance(e, ast.Constant) for e in right.elts):
                    raise _forbid(right, source, "'in' with anything but a literal tuple of constants")
                children += right.elts
            elif type(op) in _COMPARE:
                children.append(right)
            else:
                raise _forbid(node, source, "this comparison (only == != < <= > >=, in / not in a literal tuple)")
    elif isinstance(node, ast.IfExp):
        children = [node.test, node.body, node.orelse]
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise _forbid(node, source, "calling anything but a named function")
        if node.func.id not in FUNCTIONS:
            raise ExprError(
                f"unknown function {node.func.id!r} (allowed: {', '.join(sorted(FUNCTIONS))})",
                source,
                node.col_offset,
            )
        if node.keywords:
            raise _forbid(node, source, "keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise _forbid(node, source, "argument unpacking")
        children = list(node.args)
    else:
        raise _forbid(node, source, _describe(node))
    for child in children:
        _check(child, source, names, depth + 1)


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.NamedExpr: "assignment",
        ast.JoinedStr: "an f-string",
        ast.List: "a list",
        ast.Tuple: "a tuple",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.Starred: "unpacking",
    }
    return kinds.get(type(node), f"the construct {type(node).__name__}")


def _bounded(value: Value, node: ast.AST, source: str) -> Value:
    if isinstance(value, complex):  # e.g. (-1) ** 0.5
        raise ExprError(f"complex result {value}", source, getattr(node, "col_offset", None))
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise ExprError(f"integer result exceeds {MAX_INT_BITS} bits", source, getattr(node, "col_offset", None))
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"non-finite result {value}", source, getattr(node, "col_offset", None))
    return value


def _eval(node: ast.expr, env: Mapping[str, Value], source: str) -> Value:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "True":
            return True
        if node.id == "False":
            return False
        return env[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env, source), _eval(node.right, env, source)
        op = type(node.op)
        for side in (left, right):
            if isinstance(side, str):
                raise ExprError(f"'{_SYMBOL[op]}' on a string", source, node.col_offset)
        if op is ast.Pow and abs(right) > MAX_EXPONENT:
            raise ExprError(f"exponent {right} exceeds {MAX_EXPONENT}", source, node.col_offset)
        if op in (ast.Div, ast.FloorDiv, ast.Mod) and right == 0:
            raise ExprError("division by zero", source, node.col_offset)
        return _bounded(_BINARY[op](left, right), node, source)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env, source)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(operand, str):
            raise ExprError("a sign on a string", source, node.col_offset)
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        result: Value = is_and
        for value in node.values:
            result = _eval(value, env, source)
            if bool(result) != is_and:
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, source)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                members = [_eval(e, env, source) for e in right_node.elts]  # type: ignore[attr-defined]
                if (left in members) != isinstance(op, ast.In):
                    return False
                continue
            right = _eval(right_node, env, source)
            if isinstance(left, str) != isinstance(right, str) and type(op) not in (ast.Eq, ast.NotEq):
                raise ExprError("ordering a string against a number", source, node.col_offset)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        branch = node.body if _eval(node.test, env, source) else node.orelse
        return _eval(branch, env, source)
    if isinstance(node, ast.Call):
        args = [_eval(a, env, source) for a in node.args]
        try:
            return _bounded(FUNCTIONS[node.func.id](*args), node, source)  # type: ignore[union-attr]
        except ExprError as err:
            raise ExprError(err.message, source, node.col_offset) from None
        except TypeError as err:
            raise ExprError(f"bad call: {err}", source, node.col_offset) from None
    raise _forbid(node, source, _describe(node))  # unreachable after _check; kept as a guard
