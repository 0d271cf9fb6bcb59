"""Load the YAML spec, validate it against its schema and its own figures, freeze it into records.

Every error is a ``SpecError`` naming ``file:line`` and what is wrong; the CLI turns it into one line
and exit status 2. The rest of the engine only ever sees the frozen ``BlockSpec`` records.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import jsonschema
import yaml
from yaml.constructor import SafeConstructor

from .expr import Expr, ExprError, Value
from .locations import DEFAULT_SPEC, SPEC_DIR

ALL_DTYPES = ("float64", "float32", "bfloat16", "float16")


SCHEMA_PATH = SPEC_DIR / "schema.yaml"


class SpecError(Exception):
    """A spec that cannot be used, located at ``path:line``."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        super().__init__(f"{self.path}:{line if line is not None else '?'}: {message}")


class DomainError(ValueError):
    """Constructor keywords outside the block's valid domain."""


# ---------------------------------------------------------------- YAML with line numbers
Location = tuple  # path of keys / indices inside the document


def _load_yaml(text: str, path: Path) -> tuple[Any, dict[Location, int]]:
    """Parse YAML into plain Python objects plus a table location -> 1-based line; reject duplicate keys."""
    try:
        root = _compose(text, path)
    except yaml.reader.ReaderError as err:  # a control character: it has a position, not a mark
        line = text.count("\n", 0, err.position) + 1
        raise SpecError(path, line, f"character {err.character!r} is not allowed in YAML") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(path, mark.line + 1 if mark else None, f"YAML syntax error: {problem}") from None
    except RecursionError:
        raise SpecError(path, None, "YAML nested too deeply") from None
    if root is None:
        raise SpecError(path, 1, "the spec is empty")
    lines: dict[Location, int] = {}
    constructor = SafeConstructor()
    seen: set[int] = set()

    def convert(node: yaml.Node, where: Location) -> Any:
        # An alias makes the composer reuse a node: refuse it, which also rules out alias bombs
        # and recursive structures.
        if id(node) in seen and not isinstance(node, yaml.ScalarNode):
            raise SpecError(path, node.start_mark.line + 1, "YAML anchors and aliases are not allowed in a spec")
        seen.add(id(node))
        if len(where) > 32:
            raise SpecError(path, node.start_mark.line + 1, "YAML nested too deeply")
        lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = convert(key_node, where + ("<key>",))
                if not isinstance(key, str):
                    raise SpecError(path, key_node.start_mark.line + 1, f"mapping key {key!r} is not a string")
                if key in out:
                    raise SpecError(
                        path,
                        key_node.start_mark.line + 1,
                        f"duplicate key {key!r} (first at line {lines[where + (key,)]})",
                    )
                out[key] = convert(value_node, where + (key,))
                lines[where + (key,)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, where + (i,)) for i, item in enumerate(node.value)]
        try:
            return constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as err:
            raise SpecError(path, node.start_mark.line + 1, f"bad value: {err}") from None

    return convert(root, ()), lines


MAX_NESTING = 32
# libyaml's parser where PyYAML has it (about ten times faster; the same tokens, nodes and marks)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENERS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _compose(text: str, path: Path) -> yaml.Node | None:
    try:
        _check_nesting(text, path, _LOADER)
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        if _LOADER is yaml.SafeLoader:
            raise
    # libyaml rejects it: PyYAML's own parser says why, with the positions the messages are built on
    _check_nesting(text, path, yaml.SafeLoader)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _check_nesting(text: str, path: Path, loader: type) -> None:
    """Reject absurd nesting with the scanner (not recursive) before the recursive composer sees it."""
    depth = 0
    for token in yaml.scan(text, Loader=loader):
        if isinstance(token, _OPENERS):
            depth += 1
            if depth > MAX_NESTING:
                raise SpecError(path, token.start_mark.line + 1, f"YAML nested deeper than {MAX_NESTING} levels")
        elif isinstance(token, _CLOSERS):
            depth -= 1


def _line_of(lines: Mapping[Location, int], where: Location) -> int | None:
    while where not in lines and where:
        where = where[:-1]
    return lines.get(where)


def _dotted(where: Location) -> str:
    return ".".join(str(p) for p in where) or "(top level)"


# ---------------------------------------------------------------- frozen records
@dataclass(frozen=True)
class Param:
    name: str
    doc: str
    minimum: int | float
    maximum: int | float | None = None
    default: int | float | None = None
    odd: bool = False
    type: str = "int"  # int | float

    def check(self, value: object) -> str | None:
        """Why ``value`` is outside this parameter's range, or None."""
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return f"{self.name} must be a finite number, got {value!r}"
        elif isinstance(value, bool) or not isinstance(value, int):
            return f"{self.name} must be an integer, got {value!r}"
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            upper = f"..{self.maximum}" if self.maximum is not None else " or more"
            return f"{self.name}={value} is outside {self.minimum}{upper}"
        if self.odd and value % 2 == 0:
            return f"{self.name}={value} must be odd"
        return None


@dataclass(frozen=True)
class Variant:
    name: str
    default: Value
    doc: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Weight:
    name: str
    shape: tuple[Expr, ...]
    when: Expr | None = None


@dataclass(frozen=True)
class InvariantUse:
    id: str
    statement: str
    source: str
    unless: Expr | None = None
    args: Mapping[str, Expr] = field(default_factory=dict)
    train: Expr | None = None  # whether it also holds in train mode (None: yes); False e.g. under batch statistics

    def holds_in_train_mode(self, env: Mapping[str, Value]) -> bool:
        return self.train is None or bool(self.train.evaluate(env))


@dataclass(frozen=True)
class Recipe:
    """A block's oracle recipe: a gate, the pools and mixer it uses, options as formulas (conformance/oracle.py)."""

    gate: str
    pools: tuple[str, ...] = ()
    mixer: str | None = None
    options: Mapping[str, Expr] = field(default_factory=dict)

    def evaluate_options(self, env: Mapping[str, Value]) -> dict[str, Value]:
        return {name: formula.evaluate(env) for name, formula in self.options.items()}


@dataclass(frozen=True)
class DomainRule:
    check: Expr
    why: str


@dataclass(frozen=True, repr=False)
class BlockSpec:
    """One block of the spec, frozen. Formulas are evaluated through ``env``."""

    name: str
    title: str
    paper: str
    documents: str  # the section of the source documents that defines it ("" when they do not)
    factory: str
    params: tuple[Param, ...]
    domain: tuple[DomainRule, ...]
    derived: tuple[tuple[str, Expr], ...]
    weights: tuple[Weight, ...]
    param_count: Expr
    error_budget: Expr
    oracle: Recipe
    invariants: tuple[InvariantUse, ...]
    variants: tuple[Variant, ...]
    stages: tuple[str, ...] = ()
    input_domain: tuple[DomainRule, ...] = ()
    figures: Mapping[str, Any] | None = None
    source: str = ""
    code: str = ""  # the authors' code the spec follows, for blocks the documents do not define
    dtypes: tuple[str, ...] = ALL_DTYPES  # input dtypes the block takes; reduced ones under precision profiles
    benchmark: Mapping[str, tuple[int, int]] | None = None  # memory passes (reads, read-writes) per pass kind

    def __repr__(self) -> str:  # short: Hypothesis prints it in a note on every rejected draw
        return f"BlockSpec({self.name!r})"

    @property
    def defaults(self) -> dict[str, int]:
        return {p.name: p.default for p in self.params if p.default is not None}

    def sample_setting(self) -> dict[str, Value]:
        """The documents' defaults, and for a parameter without one (the channel count) the first
        value from 64 up that the domain allows (64 if none does): the one setting at which
        whole-block questions are asked (does a declared domain or a variant's ``unless`` hold?
        which classes make up the block?)."""
        return dict(self._sample)

    @functools.cached_property
    def _sample(self) -> dict[str, Value]:
        setting = {p.name: p.default if p.default is not None else 64 for p in self.params}
        free = [p.name for p in self.params if p.default is None]
        for value in range(64, 64 * 64 + 1) if len(free) == 1 else ():
            candidate = {**setting, free[0]: value}
            try:
                if self.domain_violation(candidate) is None:
                    return candidate
            except (ExprError, DomainError, ArithmeticError, TypeError, ValueError):
                break  # a formula that cannot be evaluated: the loader reports it at its own line
        return setting

    def setting_for(self, input_shape: tuple[int, int, int, int], training: bool = False) -> tuple[dict[str, Value], str]:
        """The setting that tabulates or benchmarks this block at ``input_shape`` [B, C, H, W]: the
        documents' defaults with in_channel = C; where they lie outside the domain, or outside an
        input-domain rule that a parameter takes part in, one parameter moved to the nearest value
        that fits (Shuffle Attention's groups 64 at C = 32 becomes 16; SGE's groups must divide C),
        with a note saying so. Rules no setting can meet (SimAM's H W >= 2) are left to the caller.
        DomainError when no single move fits."""
        base = {p.name: input_shape[1] if p.name == "in_channel" else p.default for p in self.params}
        why = self._unfit(base, input_shape, training)
        if why is None:
            return base, ""
        for p in self.params:
            if p.name == "in_channel" or p.default is None:
                continue
            for value in _nearby(p):
                candidate = {**base, p.name: value}
                if self._unfit(candidate, input_shape, training) is None:
                    return candidate, (f"{p.name}={p.default!r} (the default) does not fit the input {list(input_shape)} "
                                       f"({why}); {p.name}={value!r} is the nearest value that does")
        raise DomainError(f"{self.name} at input {list(input_shape)}: {why}")

    def _unfit(self, kwargs: Mapping[str, Value], input_shape: tuple[int, int, int, int], training: bool) -> str | None:
        why = self.domain_violation(kwargs)
        if why:
            return why
        batch, channels, height, width = input_shape
        scope = {**self.env(kwargs), "B": batch, "C": channels, "H": height, "W": width, "training": training}
        params = {p.name for p in self.params}
        for rule in self.input_domain:
            if rule.check.names & params and not rule.check.evaluate(scope):
                return f"{rule.check} is false: {rule.why}"
        return None

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def check_variant(self, declared: Mapping[str, Any]) -> dict[str, Value]:
        """Validate a declared variant against this block's variant options; return the full setting."""
        known = {v.name: v for v in self.variants}
        setting: dict[str, Value] = {v.name: v.default for v in self.variants}
        for key, value in declared.items():
            option = known.get(key)
            if option is None:
                raise DomainError(
                    f"{self.name} has no variant option {key!r} (known: {', '.join(known) or 'none'})"
                )
            if type(value) is not type(option.default):
                raise DomainError(
                    f"variant {self.name}.{key} takes a {type(option.default).__name__}, got {value!r}"
                )
            if option.choices and value not in option.choices:
                raise DomainError(f"variant {self.name}.{key} must be one of {list(option.choices)}, got {value!r}")
            setting[key] = value
        return setting

    def env(self, kwargs: Mapping[str, Any], variant: Mapping[str, Any] | None = None) -> dict[str, Value]:
        """Names in scope for this block's formulas: parameters, variant options, derived values."""
        env: dict[str, Value] = {}
        for p in self.params:
            value = kwargs.get(p.name, p.default)
            if value is None:
                raise DomainError(f"{self.name} needs {p.name}")
            env[p.name] = value
        env.update(self.check_variant(variant or {}))
        for name, formula in self.derived:
            env[name] = formula.evaluate(env)
        return env

    def domain_violation(self, kwargs: Mapping[str, Any]) -> str | None:
        """Why these constructor keywords are outside the spec's domain, or None if they are valid."""
        unknown = sorted(set(kwargs) - {p.name for p in self.params})
        if unknown:
            return f"{self.name} takes no parameter {unknown[0]!r}"
        for p in self.params:
            if p.name in kwargs or p.default is None:
                why = p.check(kwargs.get(p.name))
                if why:
                    return why
        env = self.env(kwargs)
        for rule in self.domain:
            if not rule.check.evaluate(env):
                return f"{rule.check} is false: {rule.why}"
        return None

    def input_violation(self, env: Mapping[str, Value], input_shape: tuple[int, int, int, int],
                        training: bool = True) -> str | None:
        """Why this input is outside what the setting can take (e.g. BatchNorm on one value), or None.
        ``training``: whether the input must be taken in train mode too (cases are drawn for both
        modes; a clause judging eval mode alone, e.g. single samples of a batch, asks for eval only)."""
        batch, channels, height, width = input_shape
        scope = {**env, "B": batch, "C": channels, "H": height, "W": width, "training": training}
        for rule in self.input_domain:
            if not rule.check.evaluate(scope):
                return f"{rule.check} is false: {rule.why}"
        return None

    def canonical_shapes(self, env: Mapping[str, Value]) -> dict[str, tuple[int, ...]]:
        """Canonical parameter names and shapes, in registration order, for this setting."""
        shapes: dict[str, tuple[int, ...]] = {}
        for weight in self.weights:
            if weight.when is None or weight.when.evaluate(env):
                shapes[weight.name] = tuple(int(dim.evaluate(env)) for dim in weight.shape)
        return shapes

    def expected_param_count(self, env: Mapping[str, Value]) -> int:
        return int(self.param_count.evaluate(env))

    def budget(self, env: Mapping[str, Value], input_shape: tuple[int, int, int, int]) -> float:
        """Number of rounding steps an output may accumulate (the error budget's n) for this input."""
        batch, channels, height, width = input_shape
        return float(self.error_budget.evaluate({**env, "B": batch, "C": channels, "H": height, "W": width}))

    def invariant(self, invariant_id: str) -> InvariantUse | None:
        return next((i for i in self.invariants if i.id == invariant_id), None)


def _nearby(param: Param) -> list[Value]:
    """A parameter's valid values other than its default, nearest first: integers by distance (the
    smaller first on a tie), real numbers by factors of two."""
    default = param.default
    if param.type == "float":
        steps = sorted((k for k in range(-40, 41) if k), key=lambda k: (abs(k), k))
        values = [default * 2.0**k for k in steps]
    else:
        high = param.maximum if param.maximum is not None else 4 * default + 64
        values = sorted((v for v in range(int(param.minimum), int(high) + 1) if v != default),
                        key=lambda v: (abs(v - default), v))
    return [v for v in values if param.check(v) is None]


@dataclass(frozen=True)
class RuntimeSpec:
    """How a block may be deployed (``--runtime``): what the artifact keeps and which clauses apply."""

    name: str
    doc: str
    trace: tuple[int, int, int] | None = None  # [batch, height, width] the artifact is built at
    modes: tuple[str, ...] = ("eval", "train")
    skip: Mapping[str, str] = field(default_factory=dict)  # clause id -> why it does not apply
    input_domain: tuple[DomainRule, ...] = ()  # what the runtime's contract excludes for every implementation
    accuracy: Mapping[str, float] = field(default_factory=dict)  # absolute errors of its approximate functions
    examples: int | None = None  # at most this many examples per clause (each new kind of input costs seconds)

    @property
    def keeps_train_mode(self) -> bool:
        return "train" in self.modes

    def trace_shape(self, channels: int) -> tuple[int, int, int, int]:
        batch, height, width = self.trace or (2, 5, 3)
        return (batch, channels, height, width)

    def input_violation(self, input_shape: tuple[int, int, int, int], dtype: str) -> str | None:
        """Why this runtime cannot take this input for any implementation, or None."""
        batch, channels, height, width = input_shape
        scope = {"B": batch, "C": channels, "H": height, "W": width, "dtype": dtype}
        for rule in self.input_domain:
            if not rule.check.evaluate(scope):
                return f"{rule.check} is false: {rule.why}"
        return None


EAGER = RuntimeSpec("eager", "the module as the factory built it, run eagerly by PyTorch")


@dataclass(frozen=True)
class Spec:
    path: Path
    blocks: Mapping[str, BlockSpec]
    invariants: Mapping[str, Mapping[str, str]]
    runtimes: Mapping[str, RuntimeSpec] = field(default_factory=lambda: MappingProxyType({"eager": EAGER}))

    def runtime(self, name: str) -> RuntimeSpec:
        try:
            return self.runtimes[name]
        except KeyError:
            raise DomainError(f"unknown runtime {name!r} (this spec declares: {', '.join(self.runtimes)})") from None

    def block(self, name: str) -> BlockSpec:
        try:
            return self.blocks[name]
        except KeyError:
            raise DomainError(f"unknown block {name!r} (known: {', '.join(self.blocks)})") from None


# ---------------------------------------------------------------- loading and validation
@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _schema_error(err: jsonschema.ValidationError, path: Path, lines: Mapping[Location, int]) -> SpecError:
    where = tuple(err.absolute_path)
    if "propertyNames" in err.relative_schema_path and isinstance(err.instance, str):
        return SpecError(path, _line_of(lines, where + (err.instance,)), f"{_dotted(where)}: name {err.instance!r}: {err.message}")
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            known = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
            return SpecError(path, _line_of(lines, where + (extra[0],)), f"{_dotted(where)}: unknown key {extra[0]!r}{known}")
    return SpecError(path, _line_of(lines, where), f"{_dotted(where)}: {err.message}")


def load_spec(path: Path | str | None = None) -> Spec:
    """Read, validate and freeze a spec file (the bundled one by default). A text validated before
    comes from a cache (workers forked from the zygote inherit the bundled spec already loaded)."""
    path = Path(path) if path is not None else DEFAULT_SPEC
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(path, None, f"cannot read the spec: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise SpecError(path, None, f"the spec is not UTF-8 text: {err}") from None
    return _parse_spec(path, text)


@functools.lru_cache(maxsize=8)
def _parse_spec(path: Path, text: str) -> Spec:
    data, lines = _load_yaml(text, path)
    errors = sorted(
        jsonschema.Draft202012Validator(_schema()).iter_errors(data),
        key=lambda e: (_line_of(lines, tuple(e.absolute_path)) or 0, -len(e.absolute_path)),
    )
    if errors:
        deepest = jsonschema.exceptions.best_match(errors)
        raise _schema_error(deepest, path, lines)
    try:
        return _Builder(path, data, lines).build()
    except (ExprError, DomainError, TypeError, ValueError, KeyError) as err:
        # A combination the checks above did not foresee: still one clear line, never a traceback.
        raise SpecError(path, None, f"inconsistent spec: {type(err).__name__}: {err}") from None


class _Builder:
    """Turns validated data into records, checking what a schema cannot: formulas and figures."""

    def __init__(self, path: Path, data: dict, lines: Mapping[Location, int]):
        self.path, self.data, self.lines = path, data, lines

    def fail(self, where: Location, message: str) -> SpecError:
        return SpecError(self.path, _line_of(self.lines, where), f"{_dotted(where)}: {message}")

    def formula(self, value: object, where: Location) -> Expr:
        try:
            return Expr.parse(value)
        except ExprError as err:
            raise self.fail(where, err.args[0]) from None

    def evaluate(self, expr: Expr, env: Mapping[str, Value], where: Location) -> Value:
        try:
            return expr.evaluate(env)
        except ExprError as err:
            raise self.fail(where, err.args[0]) from None

    def build(self) -> Spec:
        catalogue = self.data["invariants"]
        blocks = {name: self.block(name, raw, catalogue) for name, raw in self.data["blocks"].items()}
        for block in blocks.values():
            for stage in block.stages:
                if stage not in blocks:
                    raise self.fail(("blocks", block.name, "stages"), f"unknown stage block {stage!r}")
                if blocks[stage].stages:
                    raise self.fail(("blocks", block.name, "stages"), f"stage {stage!r} has stages of its own (only one level of composition)")
        runtimes = {name: self.runtime(name, raw) for name, raw in self.data.get("runtimes", {"eager": {}}).items()}
        return Spec(self.path, MappingProxyType(blocks), MappingProxyType(catalogue), MappingProxyType(runtimes))

    def runtime(self, name: str, raw: dict) -> RuntimeSpec:
        """A runtime entry: one attncert can build, a trace input it can use, clauses it knows."""
        from .clauses import CLAUSES
        from .runtimes import RUNTIMES

        at: Location = ("runtimes", name)
        if name not in RUNTIMES:
            raise self.fail(at, f"attncert has no runtime {name!r} (it has: {', '.join(RUNTIMES)})")
        if name == "eager":  # the module itself: nothing to build, skip or exclude
            extra = sorted(set(raw) - {"doc"})
            if extra:
                raise self.fail(at + (extra[0],), "the eager runtime runs the module itself: it takes only a doc")
            return EAGER
        trace = tuple(raw["trace"]) if "trace" in raw else None
        if name != "eager" and trace is None:
            raise self.fail(at, "a runtime other than eager needs a trace input [batch, height, width]")
        if trace is not None and len(set(trace)) != 3:
            raise self.fail(at + ("trace",), f"the trace input's batch, height and width must differ (got {list(trace)}): "
                                             "an artifact traced at equal sizes may confuse them")
        for clause in raw.get("skip", {}):
            if clause not in CLAUSES:
                raise self.fail(at + ("skip", clause), f"unknown clause {clause!r}")
        rules = tuple(DomainRule(self.formula(r["check"], at + ("input_domain", i, "check")), r["why"])
                      for i, r in enumerate(raw.get("input_domain", ())))
        for i, rule in enumerate(rules):
            self.evaluate(rule.check, {"B": 2, "C": 8, "H": 3, "W": 5, "dtype": "float32"}, at + ("input_domain", i, "check"))
        return RuntimeSpec(name, raw["doc"], trace, tuple(raw.get("modes", ("eval", "train"))),
                           MappingProxyType(dict(raw.get("skip", {}))), rules, MappingProxyType(dict(raw.get("accuracy", {}))),
                           raw.get("examples"))

    def block(self, name: str, raw: dict, catalogue: Mapping[str, Mapping[str, str]]) -> BlockSpec:
        at: Location = ("blocks", name)
        params = tuple(
            Param(p, spec["doc"], spec["min"], spec.get("max"), spec.get("default"), spec.get("odd", False), spec["type"])
            for p, spec in raw["params"].items()
        )
        for p in params:
            for key in ("min", "max", "default"):
                value = raw["params"][p.name].get(key)
                if p.type == "int" and value is not None and not isinstance(value, int):
                    raise self.fail(at + ("params", p.name, key), f"{key} of an int parameter must be an integer, got {value!r}")
            if p.odd and p.type != "int":
                raise self.fail(at + ("params", p.name, "odd"), "only an int parameter can be odd")
            if p.default is not None and p.check(p.default):
                raise self.fail(at + ("params", p.name, "default"), f"default is outside the range: {p.check(p.default)}")
        variants = []
        for v, spec in raw["variants"].items():
            choices = tuple(spec.get("choices", ()))
            if choices and spec["default"] not in choices:
                raise self.fail(at + ("variants", v, "default"), f"default {spec['default']!r} is not among the choices")
            variants.append(Variant(v, spec["default"], spec["doc"], choices))
        clash = sorted({p.name for p in params} & {v.name for v in variants})
        if clash:
            raise self.fail(at + ("variants", clash[0]), f"{clash[0]!r} is both a parameter and a variant option")
        invariants = []
        for inv, use in raw["invariants"].items():
            if inv not in catalogue:
                raise self.fail(at + ("invariants", inv), f"unknown invariant {inv!r} (declared: {', '.join(map(str, catalogue))})")
            formulas = {k: self.formula(v, at + ("invariants", inv, k)) for k, v in use.items() if k != "axis"}
            unless, train = formulas.pop("unless", None), formulas.pop("train", None)
            invariants.append(
                InvariantUse(inv, catalogue[inv]["statement"], catalogue[inv]["source"], unless,
                             MappingProxyType({**formulas, **({"axis": use["axis"]} if "axis" in use else {})}), train)
            )
        block = BlockSpec(
            name=name,
            title=raw["title"],
            paper=raw["paper"],
            documents=raw.get("documents", ""),
            code=raw.get("code", ""),
            factory=raw["factory"],
            params=params,
            domain=tuple(
                DomainRule(self.formula(r["check"], at + ("domain", i, "check")), r["why"])
                for i, r in enumerate(raw["domain"])
            ),
            derived=tuple((k, self.formula(v, at + ("derived", k))) for k, v in raw["derived"].items()),
            weights=tuple(
                Weight(
                    w["name"],
                    tuple(self.formula(d, at + ("weights", i, "shape", j)) for j, d in enumerate(w["shape"])),
                    self.formula(w["when"], at + ("weights", i, "when")) if "when" in w else None,
                )
                for i, w in enumerate(raw["weights"])
            ),
            param_count=self.formula(raw["param_count"], at + ("param_count",)),
            error_budget=self.formula(raw["error_budget"], at + ("error_budget",)),
            oracle=self.recipe(raw, at),
            invariants=tuple(invariants),
            variants=tuple(variants),
            stages=tuple(raw.get("stages", ())),
            input_domain=tuple(
                DomainRule(self.formula(r["check"], at + ("input_domain", i, "check")), r["why"])
                for i, r in enumerate(raw.get("input_domain", []))
            ),
            figures=MappingProxyType(raw["figures"]) if "figures" in raw else None,
            source=f"{self.path}:{_line_of(self.lines, at)}",
            dtypes=tuple(raw.get("dtypes", ALL_DTYPES)),
            benchmark=MappingProxyType({k: tuple(v) for k, v in raw["benchmark"].items()}) if "benchmark" in raw else None,
        )
        self.check_formulas(block, at)
        return block

    def recipe(self, raw: dict, at: Location) -> Recipe:
        """The oracle recipe, every name checked against the oracle's registries (conformance/oracle.py)."""
        from . import oracle

        data, at = raw["oracle"], at + ("oracle",)

        def entry(table: Mapping[str, Any], kind: str, name: str, where: Location):
            if name not in table:
                raise self.fail(where, f"unknown {kind} {name!r} (the oracle has: {', '.join(sorted(table))})")
            return table[name]

        gate = entry(oracle.GATES, "gate", data["gate"], at + ("gate",))
        pools = tuple(data.get("pools", ()))
        for i, name in enumerate(pools):
            entry(oracle.POOLS, "pool", name, at + ("pools", i))
        mixer = entry(oracle.MIXERS, "mixer", data["mixer"], at + ("mixer",)) if "mixer" in data else None
        have = {"pools": bool(pools), "mixer": mixer is not None, "stages": bool(raw.get("stages"))}
        for need in gate.needs:
            if not have[need]:
                raise self.fail(at, f"the {gate.name} gate needs {need!r}" + (" (the block's stages)" if need == "stages" else ""))
        allowed = set(gate.options) | set(mixer.options if mixer else ())
        options = {}
        for name, value in data.get("options", {}).items():
            if name not in allowed:
                raise self.fail(at + ("options", name), f"the {gate.name} gate{f' and the {mixer.name} mixer' if mixer else ''} "
                                f"take no option {name!r} (options: {', '.join(sorted(allowed)) or 'none'})")
            options[name] = self.formula(value, at + ("options", name))
        return Recipe(gate.name, pools, mixer.name if mixer else None, MappingProxyType(options))

    def sample_settings(self, block: BlockSpec) -> list[tuple[dict[str, int], dict[str, Value]]]:
        """A few points of the domain, under the plain spec and with each variant option switched."""
        base = block.sample_setting()
        variants: list[dict[str, Value]] = [{}]
        for v in block.variants:
            if isinstance(v.default, bool):
                variants.append({v.name: not v.default})
            elif v.choices:
                variants.extend({v.name: c} for c in v.choices if c != v.default)
            elif isinstance(v.default, int):
                variants.append({v.name: v.default + 3})
        return [(base, variant) for variant in variants]

    def setting_env(self, block: BlockSpec, kwargs: Mapping[str, int], variant: Mapping[str, Value], at: Location) -> dict[str, Value]:
        """Like BlockSpec.env, but a failing derived formula is reported at its own line."""
        env: dict[str, Value] = {p.name: kwargs[p.name] for p in block.params}
        env.update(block.check_variant(variant))
        for name, expr in block.derived:
            env[name] = self.evaluate(expr, env, at + ("derived", name))
        return env

    def check_formulas(self, block: BlockSpec, at: Location) -> None:
        """Evaluate every formula at sample points, so unknown names and bad arithmetic surface now."""
        for kwargs, variant in self.sample_settings(block):
            env = self.setting_env(block, kwargs, variant, at)
            for i, rule in enumerate(block.domain):
                self.evaluate(rule.check, env, at + ("domain", i, "check"))
            shapes: dict[str, int] = {}
            for i, w in enumerate(block.weights):
                if w.when is None or self.evaluate(w.when, env, at + ("weights", i, "when")):
                    dims = [self.evaluate(d, env, at + ("weights", i, "shape", j)) for j, d in enumerate(w.shape)]
                    for j, dim in enumerate(dims):
                        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
                            raise self.fail(at + ("weights", i, "shape", j), f"dimension {w.shape[j]} gives {dim!r}, not a positive integer")
                    shapes[w.name] = math.prod(dims)
            count = self.evaluate(block.param_count, env, at + ("param_count",))
            if count != sum(shapes.values()):
                raise self.fail(
                    at + ("param_count",),
                    f"param_count gives {count} but the weights add up to {sum(shapes.values())} "
                    f"at {kwargs} variant {variant or 'plain'}",
                )
            with_input = {**env, "B": 2, "C": env.get("C", 8), "H": 3, "W": 5}
            self.evaluate(block.error_budget, with_input, at + ("error_budget",))
            for i, rule in enumerate(block.input_domain):
                for training in (True, False):
                    self.evaluate(rule.check, {**with_input, "training": training}, at + ("input_domain", i, "check"))
            for inv in block.invariants:
                for key, expr in [("unless", inv.unless), ("train", inv.train), *inv.args.items()]:
                    if isinstance(expr, Expr):
                        self.evaluate(expr, env, at + ("invariants", inv.id, key))
            for name, formula in block.oracle.options.items():
                self.evaluate(formula, env, at + ("oracle", "options", name))
        if block.figures is not None:
            self.check_figures(block, at)

    def check_figures(self, block: BlockSpec, at: Location) -> None:
        """The documented torchstat figures must agree with the block's own formulas."""
        figures = block.figures or {}
        kwargs = dict(block.defaults)
        if "in_channel" in {p.name for p in block.params}:
            kwargs["in_channel"] = figures["input"][0]
        missing = [p.name for p in block.params if p.name not in kwargs]
        if missing:
            raise self.fail(at + ("figures",), f"figures need a default for {missing[0]!r} (only in_channel comes from the input)")
        env = self.setting_env(block, kwargs, {}, at)
        expected = self.evaluate(block.param_count, env, at + ("param_count",))
        total = figures["totals"]["params"]
        if total != expected:
            raise self.fail(
                at + ("figures", "totals", "params"),
                f"documented {total} parameters, but param_count gives {expected} at {kwargs}",
            )
        layer_sum = sum(layer["params"] for layer in figures["layers"])
        if layer_sum != total:
            raise self.fail(at + ("figures", "layers"), f"the layers' parameters add up to {layer_sum}, not {total}")
