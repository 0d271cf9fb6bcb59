"""The spec's expression language: what it computes, what it refuses, and that its work is bounded.

Contract under test: ``Expr.parse(s).evaluate(env)`` returns an ``int``, ``float``, ``bool`` or ``str``
or raises ``ExprError``; never another exception type, never a hang, never ``eval()``.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.expr import FUNCTIONS, MAX_DEPTH, MAX_SOURCE_CHARS, Expr, ExprError, evaluate

VALUE_TYPES = (int, float, bool, str)


class Hang(Exception):
    """Raised by the alarm when one evaluation runs too long (a stand-in for a hang)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the body after ``seconds`` (POSIX main thread only; elsewhere just run it)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(source, env=None):
    return Expr.parse(source).evaluate(env or {})


def outcome(source, env=None):
    """('ok', value) or ('error', ExprError); any other exception propagates and fails the test."""
    try:
        with time_limit(2.0):
            return "ok", run(source, env)
    except ExprError as err:
        return "error", err


# ---------------------------------------------------------------- valid arithmetic
ENV = {"C": 64, "ratio": 4, "b": 1, "gamma": 2, "bias": False, "hidden_divisor": 0, "mode": "zeros", "x": 2.5}


@pytest.mark.parametrize(
    "source, expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("7 / 2", 3.5),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("-3", -3),
        ("+3", 3),
        ("--3", 3),
        ("C // ratio", 16),
        ("2 * C * (C // ratio)", 2048),
        ("x * 2", 5.0),
        ("1 < 2 < 3", True),
        ("3 < 2 < 4", False),
        ("C == 64", True),
        ("C != 64", False),
        ("C >= 64 and ratio <= 4", True),
        ("bias or 7", 7),
        ("not bias", True),
        ("1 if bias else 0", 0),
        ("hidden_divisor == 0", True),
        ("mode == 'zeros'", True),
        ("mode != 'circular'", True),
        ("'zeros'", "zeros"),
        ("True", True),
        ("False", False),
        ("1.5e3", 1500.0),
        ("1_000", 1000),
        ("  C  ", 64),
        ("2 ** 64", 2**64),
        ("10 ** 38", 10**38),
        ("C // ratio if hidden_divisor == 0 else make_divisible(C / ratio, hidden_divisor)", 16),
        ("2 * C * (C // ratio) + (C // ratio + C if bias else 0)", 2048),
        ("odd_up(trunc(abs((log2(C) + b) / gamma)))", 3),
    ],
)
def test_valid_arithmetic(source, expected):
    result = run(source, ENV)
    assert result == expected and type(result) is type(expected), (source, result)


def test_numbers_are_formulas():
    assert Expr.parse(512).evaluate({}) == 512
    assert Expr.parse(0.5).evaluate({}) == 0.5
    assert Expr.parse(True).evaluate({}) is True


def test_names_are_collected_and_evaluate_is_pure():
    e = Expr.parse("C // ratio + max(b, gamma)")
    assert e.names == frozenset({"C", "ratio", "b", "gamma"})
    assert e.evaluate(ENV) == e.evaluate(ENV) == 18
    assert str(e) == "C // ratio + max(b, gamma)"
    assert evaluate("C // ratio", ENV) == 16


def test_unknown_name_is_an_error_naming_it():
    with pytest.raises(ExprError, match="unknown name 'hiden'"):
        run("C * hiden", ENV)


@pytest.mark.parametrize(
    "C, b, gamma, k",
    [(16, 1, 2, 3), (32, 1, 2, 3), (64, 1, 2, 3), (128, 1, 2, 5), (256, 1, 2, 5), (512, 1, 2, 5), (1024, 1, 2, 5),
     (1, 1, 2, 1), (2, 1, 2, 1), (1, -4, 2, 3), (8, -4, 1, 1), (64, 16, 1, 23), (64, 1, 16, 1)],
)
def test_eca_kernel_formula(C, b, gamma, k):
    """The documents' intent: the odd number at or above |(log2 C + b) / gamma|, truncated."""
    t = int(abs((math.log2(C) + b) / gamma))
    assert k == (t if t % 2 else t + 1)
    assert run("odd_up(trunc(abs((log2(C) + b) / gamma)))", {"C": C, "b": b, "gamma": gamma}) == k


# ---------------------------------------------------------------- every whitelisted function
FUNCTION_CASES = {
    "abs": [("abs(-3)", 3), ("abs(2.5)", 2.5), ("abs(0)", 0)],
    "trunc": [("trunc(2.7)", 2), ("trunc(-2.7)", -2), ("trunc(3)", 3)],
    "floor": [("floor(2.7)", 2), ("floor(-2.5)", -3), ("floor(4)", 4)],
    "ceil": [("ceil(2.1)", 3), ("ceil(-2.5)", -2), ("ceil(4)", 4)],
    "log2": [("log2(8)", 3.0), ("log2(1)", 0.0), ("log2(0.5)", -1.0)],
    "odd_up": [("odd_up(2)", 3), ("odd_up(3)", 3), ("odd_up(2.2)", 3), ("odd_up(3.5)", 5), ("odd_up(0)", 1), ("odd_up(-2)", -1)],
    "make_divisible": [("make_divisible(16.0, 8)", 16), ("make_divisible(5.0, 8)", 8), ("make_divisible(12, 8)", 16),
                       ("make_divisible(11.9, 8)", 8), ("make_divisible(7, 1)", 7),
                       # timm's round_limit: a width rounded down by more than 10 % gets one divisor more
                       ("make_divisible(11.9, 8, 0.9)", 16), ("make_divisible(8.8, 8, 0.9)", 8),
                       ("make_divisible(64 * (1 / 16), 8, 0.9)", 8)],
    "min": [("min(3, 1, 2)", 1), ("min(5)", 5), ("min(2.5, 3)", 2.5)],
    "max": [("max(3, 1, 2)", 3), ("max(5)", 5), ("max(2.5, 3)", 3)],
}
FUNCTION_ERRORS = {
    "abs": ["abs()", "abs(1, 2)", "abs('a')", "abs(True)"],
    "trunc": ["trunc()", "trunc('a')", "trunc(1e300)"],
    "floor": ["floor()", "floor('a')", "floor(-1e300)"],
    "ceil": ["ceil()", "ceil('a')", "ceil(1e300)"],
    "log2": ["log2(0)", "log2(-1)", "log2('a')", "log2()"],
    "odd_up": ["odd_up('a')", "odd_up()", "odd_up(1, 2)"],
    "make_divisible": ["make_divisible(7, 0)", "make_divisible(7, 2.5)", "make_divisible(7, -8)", "make_divisible('a', 8)",
                       "make_divisible(7)", "make_divisible(1e300, 8)", "make_divisible(7, 8, 'a')",
                       "make_divisible(7, 8, 0.9, 1)"],
    "min": ["min()", "min(1, 'a')", "min(True, 2)"],
    "max": ["max()", "max('a', 'b')", "max(1, False)"],
}


def test_every_function_is_covered():
    assert set(FUNCTION_CASES) == set(FUNCTIONS) == set(FUNCTION_ERRORS)


@pytest.mark.parametrize(
    "source, expected", [case for cases in FUNCTION_CASES.values() for case in cases], ids=lambda v: str(v)
)
def test_function(source, expected):
    result = run(source)
    assert result == expected and type(result) is type(expected), (source, result)


@pytest.mark.parametrize("source", [s for cases in FUNCTION_ERRORS.values() for s in cases])
def test_function_misuse_is_an_expr_error(source):
    kind, err = outcome(source)
    assert kind == "error", f"{source} gave {err!r}"


# ---------------------------------------------------------------- rejected constructs (at parse time)
REJECTED = {
    "attribute": ["C.__class__", "max.__name__", "(1).real", "'a'.upper()"],
    "subscript": ["C[0]", "'abc'[0]", "[1, 2][0]", "C[1:2]"],
    "lambda": ["lambda: 1", "(lambda: 1)()", "max(lambda x: x, 1)"],
    "comprehension": ["[c for c in (1, 2)]", "{c for c in (1, 2)}", "{c: c for c in (1, 2)}", "max(c for c in (1, 2))",
                      "max([c for c in (1, 2)])"],
    "walrus": ["(y := 1)", "max((y := 1), 2)"],
    "f-string": ["f'{C}'", "f'{C.__class__}'", "max(f'{C}')"],
    "keyword arguments": ["max(1, key=abs)", "min(1, default=0)"],
    "starred": ["max(*C)", "max(*[1, 2])", "max(**C)"],
    "unknown function": ["__import__('os')", "open('/etc/passwd')", "eval('1')", "exec('1')", "compile('1', '', 'eval')",
                         "getattr(C, 'x')", "len('a')", "sum(1, 2)", "int(1.5)", "print(1)", "globals()", "breakpoint()",
                         "input()", "pow(2, 3)", "round(1.5)", "type(C)", "vars()", "dir()", "exit()"],
    "dunder name": ["__builtins__", "__class__", "_private", "__import__", "C + __file__"],
    "call of a non-name": ["max(1, 2)(3)", "C()(1)", "(1)(2)"],
    "container": ["(1, 2)", "[1, 2]", "{1, 2}", "{1: 2}", "()", "[]", "{}"],
    "other operators": ["1 << 3", "1 >> 3", "1 & 3", "1 | 3", "1 ^ 3", "~1", "1 @ 2"],
    "other comparisons": ["1 is 1", "1 is not 2", "1 in C", "1 not in C"],
    "other constants": ["None", "b'x'", "1j", "..."],
    "statements and syntax errors": ["import os", "x = 1", "1; 2", "del C", "pass", "C +", "(", ")", "", "   ", "1 2",
                                     "if C: 1", "yield 1", "await C", "async def f(): pass", "\x00", "1\n+1"],
}
REJECTED_CASES = [(kind, s) for kind, sources in REJECTED.items() for s in sources]


@pytest.mark.parametrize("kind, source", REJECTED_CASES, ids=[f"{k}:{s!r}" for k, s in REJECTED_CASES])
def test_rejected_at_parse_time(kind, source):
    with time_limit(2.0):
        with pytest.raises(ExprError) as info:
            Expr.parse(source)
    err = info.value
    assert err.message
    if err.column is not None:
        assert 0 <= err.column <= max(len(source), 1), err


def test_rejection_messages_name_the_construct():
    cases = {
        "C.__class__": "attribute access",
        "C[0]": "subscripting",
        "lambda: 1": "lambda",
        "[c for c in (1, 2)]": "comprehension",
        "(y := 1)": "assignment",
        "f'{C}'": "f-string",
        "max(1, key=abs)": "keyword arguments",
        "max(*C)": "unpacking",
        "open('x')": "unknown function 'open'",
        "__class__": "'__class__'",
    }
    for source, fragment in cases.items():
        with pytest.raises(ExprError, match=None) as info:
            Expr.parse(source)
        assert fragment in str(info.value), (source, str(info.value))


def test_nothing_is_executed_when_rejecting(tmp_path):
    marker = tmp_path / "pwned"
    for source in [f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')",
                   f"eval(\"open('{marker}', 'w')\")", f"(lambda: open('{marker}', 'w'))()"]:
        with pytest.raises(ExprError):
            run(source)
    assert not marker.exists()


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"1", 1j, object()])
def test_non_formula_values_are_expr_errors(value):
    with pytest.raises(ExprError):
        Expr.parse(value)


# ---------------------------------------------------------------- evaluation errors
@pytest.mark.parametrize(
    "source",
    ["1 / 0", "1 // 0", "1 % 0", "1.0 / 0.0", "C % (ratio - 4)", "0 ** -1", "0.0 ** -1", "'a' + 'b'", "'a' * 3", "-'a'",
     "'a' < 1", "1 >= 'a'", "1e308 * 10", "1e308 + 1e308", "1e308 ** 2", "1e308 // 1e-308", "2.0 ** 1e10"],
)
def test_evaluation_errors(source):
    kind, err = outcome(source, ENV)
    assert kind == "error", f"{source} gave {err!r}"


# ---------------------------------------------------------------- bounded work
BOUNDED = [
    "9**9**9",
    "2**200",
    "10**64",
    "2 ** 127 * 2",
    "(2 ** 64) ** 2 * (2 ** 64) ** 2",
    "9**9**9**9**9",
    "2 ** 64 ** 64",
    "(10 ** 38) ** 64",
    "abs(" * 40 + "1" + ")" * 40,
    "-(" * 40 + "1" + ")" * 40,
    "not " * 40 + "1",
    "max(" * 30 + "1" + ")" * 30,
    "-(" * 130 + "1" + ")" * 130,
    "(" * 300 + "1" + ")" * 300,
    "1" + " + 1" * 200,
    "C" + " * C" * 100,
    "1 if " * 60 + "1" + " else 1" * 60,
    "trunc(1e300)",
    "floor(1e308) * 2",
    "make_divisible(2 ** 120, 3) * 2 ** 64",
    "x" * (MAX_SOURCE_CHARS + 1),
    "1" * 10_000,
    "(" * 100_000,
    "a" + " or a" * 100_000,
]


@pytest.mark.parametrize("source", BOUNDED, ids=[s[:30] + ("..." if len(s) > 30 else "") for s in BOUNDED])
def test_bounded_work_raises_quickly(source):
    started = time.perf_counter()
    with time_limit(2.0):
        with pytest.raises(ExprError):
            run(source, {"C": 2**64, "x": 1, "a": 0})
    assert time.perf_counter() - started < 1.0


def test_limits_are_what_the_module_says():
    assert MAX_SOURCE_CHARS >= 200, "the spec's longest formula must fit"
    deepest_ok = "abs(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    if len(deepest_ok) <= MAX_SOURCE_CHARS:
        assert run(deepest_ok) == 1
    assert run("2 ** 64") == 2**64
    with pytest.raises(ExprError):
        run("2 ** 65 * 2 ** 64")


def test_forty_redundant_parentheses_are_harmless():
    """Parentheses add no nesting to the tree: ((((C)))) is just C."""
    assert run("(" * 40 + "C" + ")" * 40, ENV) == 64
    assert run("(" * 199 + "1" + ")" * 199) == 1


@pytest.mark.parametrize("source", ["1e999", "-1e999", "0 or 1e999", "1e999 if True else 0", "9e999 - 1"])
def test_non_finite_results_are_rejected(source):
    """The module promises that non-finite results are errors; an overflowing literal is one too."""
    kind, value = outcome(source)
    assert kind == "error", f"{source!r} evaluated to {value!r}"


@pytest.mark.parametrize("source", ["9" * 60, "-" + "9" * 60, "1" * 399, "0 or " + "9" * 50])
def test_integer_literals_are_bounded(source):
    """'the size of every intermediate integer [is] capped' - literals included."""
    kind, value = outcome(source)
    assert kind == "error", f"{source[:20]}... evaluated to a {value.bit_length()}-bit integer"


@pytest.mark.parametrize("source", ["(-1) ** 0.5", "(-8) ** (1 / 3)", "(0 - 2) ** 1.5", "(-1) ** 0.5 * 0", "max(1, 2) if (-1) ** 0.5 else 0"])
def test_no_complex_numbers(source):
    """A negative base to a fractional power is complex in Python; the language has no complex values."""
    kind, value = outcome(source)
    assert kind == "error", f"{source!r} evaluated to {value!r} ({type(value).__name__})"


def test_huge_python_int_as_formula():
    """``Expr.parse(n)`` formats a number with repr(); Python refuses repr() beyond 4300 digits."""
    with pytest.raises(ExprError):
        Expr.parse(10**5000)


# ---------------------------------------------------------------- fuzzing
FUZZ_ENV_NAMES = ["C", "ratio", "b", "gamma", "bias", "mode", "x", "n"]
FUZZ_VALUES = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["zeros", "circular", "", "max_mean"]),
)
FUZZ_ENVS = st.fixed_dictionaries({}, optional={name: FUZZ_VALUES for name in FUZZ_ENV_NAMES})


def check_contract(source: str, env: dict) -> None:
    try:
        with time_limit(2.0):
            parsed = Expr.parse(source)
            result = parsed.evaluate(env)
    except ExprError:
        return
    assert type(result) in VALUE_TYPES, f"{source!r} -> {result!r} ({type(result).__name__})"


@settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.text(max_size=60), env=FUZZ_ENVS)
def test_fuzz_arbitrary_text(source, env):
    check_contract(source, env)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.text(alphabet="0123456789.eE+-*/%()<>=! abcCxnfrlogtumidp_,'\"[]:", max_size=50), env=FUZZ_ENVS)
def test_fuzz_formula_alphabet(source, env):
    check_contract(source, env)


LEAVES = st.one_of(
    st.integers(0, 2**70).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=0, max_value=8, allow_nan=False).map(repr),
    st.sampled_from(["0", "1", "2", "0.5", "64", "1e308", "1e-308", "1e999", "True", "False", "'zeros'", "''"]),
    st.sampled_from(FUZZ_ENV_NAMES + ["unknown"]),
)
BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(BINARY), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "+", "not "]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        # powers with signed operands: the corner where Python leaves the reals
        st.tuples(st.sampled_from(["-", ""]), children, st.sampled_from(["-", ""]), children).map(
            lambda t: f"(({t[0]}{t[1]}) ** ({t[2]}{t[3]}))"
        ),
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), st.lists(children, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(children, st.sampled_from(["<", "<=", "=="]), children, st.sampled_from(["<", "!="]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]} {t[3]} {t[4]})"
        ),
    )


GRAMMAR = st.recursive(LEAVES, _extend, max_leaves=25)


@settings(max_examples=600, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(source=GRAMMAR, env=FUZZ_ENVS)
def test_fuzz_grammar(source, env):
    check_contract(source, env)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(source=GRAMMAR)
def test_fuzz_grammar_parse_is_static(source):
    """Parsing never evaluates: it succeeds or fails the same way whatever the environment."""
    try:
        with time_limit(2.0):
            parsed = Expr.parse(source)
    except ExprError:
        return
    assert parsed.names <= set(FUZZ_ENV_NAMES) | {"unknown"}
