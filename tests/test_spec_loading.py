"""A broken spec is always a ``SpecError`` naming ``path:line`` and what is wrong; nothing else escapes.

The corpus ``tests/corpus/bad_specs/*.yaml`` holds copies of ``spec/blocks.yaml`` with one defect each.
Every file's first line says what the loader must report::

    # expect: line=<1-based line> contains=<substring of the message>

Beside the corpus: defects that are awkward as plain files (control characters, alias bombs, deep
nesting), unreadable paths, and a Hypothesis test that mutates the valid spec at random.
"""

from __future__ import annotations

import re
import subprocess
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, ROOT, run_python
from conformance.spec import DEFAULT_SPEC, Spec, SpecError, load_spec

BAD_SPECS = CORPUS / "bad_specs"
BAD_SPEC_FILES = sorted(BAD_SPECS.glob("*.yaml"))
EXPECT = re.compile(r"# expect: line=(?P<line>\d+) contains=(?P<contains>.+)")
VALID_TEXT = DEFAULT_SPEC.read_text(encoding="utf-8")


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    match = EXPECT.fullmatch(first)
    assert match, f"{path.name}: first line must be '# expect: line=<N> contains=<substring>', got {first!r}"
    return int(match["line"]), match["contains"]


def load_expecting_spec_error(path: Path) -> SpecError:
    """Load ``path``; return the SpecError, fail the test on success or on any other exception."""
    try:
        spec = load_spec(path)
    except SpecError as err:
        return err
    except BaseException as err:  # noqa: BLE001 - the point is that nothing else may escape
        pytest.fail(
            f"load_spec({path.name}) raised {type(err).__name__} instead of SpecError: {err!s:.300}\n"
            + "".join(traceback.format_exception(err))[-3000:]
        )
    pytest.fail(f"load_spec({path.name}) accepted a broken spec (blocks: {list(spec.blocks)})")


def assert_located(err: SpecError, path: Path) -> None:
    """The message has the contract's shape ``<path>:<line>: <message>`` with a real line number."""
    assert isinstance(err.line, int), f"SpecError without a line number: {err}"
    assert str(err) == f"{path}:{err.line}: {err.message}"
    n_lines = path.read_text(encoding="utf-8", errors="replace").count("\n") + 1
    assert 1 <= err.line <= n_lines, f"line {err.line} is outside the file's 1..{n_lines}: {err}"


# ---------------------------------------------------------------- the corpus
def test_corpus_is_large_enough_and_well_formed():
    assert len(BAD_SPEC_FILES) >= 25
    for path in BAD_SPEC_FILES:
        expectation(path)


def test_the_valid_spec_loads():
    spec = load_spec()
    assert isinstance(spec, Spec)
    assert {"se", "eca", "channel_attention", "spatial_attention", "cbam"} <= set(spec.blocks)


@pytest.mark.parametrize("path", BAD_SPEC_FILES, ids=[p.stem for p in BAD_SPEC_FILES])
def test_bad_spec(path: Path):
    line, contains = expectation(path)
    started = time.perf_counter()
    err = load_expecting_spec_error(path)
    assert time.perf_counter() - started < 10, "rejecting a broken spec took more than 10 s"
    assert str(err).startswith(f"{path}:"), str(err)
    assert err.line == line, f"expected line {line}, got {err.line}: {err}"
    assert str(err) == f"{path}:{line}: {err.message}"
    assert contains in err.message, f"{contains!r} not in {err.message!r}"


def test_str_path_is_echoed_verbatim():
    """A ``str`` path works as well as a ``Path`` and starts the message unchanged."""
    path = BAD_SPECS / "figures_total_513.yaml"
    line, _ = expectation(path)
    with pytest.raises(SpecError) as info:
        load_spec(str(path))
    assert str(info.value).startswith(f"{path}:{line}: ")


# ---------------------------------------------------------------- defects built in code
def _write(tmp_path: Path, text: str | bytes, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("char", ["\x07", "\x00", "\x1b", "\x7f"], ids=["bell", "nul", "escape", "delete"])
def test_control_character_names_its_line(tmp_path, char):
    text = VALID_TEXT.replace("    factory: se\n", f"    factory: s{char}e\n", 1)
    path = _write(tmp_path, text)
    err = load_expecting_spec_error(path)
    assert_located(err, path)
    assert err.line == _line_of(text, "factory: s")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    err = load_expecting_spec_error(path)
    assert str(err).startswith(f"{path}:")


def test_directory_instead_of_file(tmp_path):
    err = load_expecting_spec_error(tmp_path)
    assert str(err).startswith(f"{tmp_path}:")


def test_not_utf8(tmp_path):
    path = _write(tmp_path, VALID_TEXT.encode("utf-8").replace(b"Squeeze", b"Sq\xff\xfeeeze", 1))
    err = load_expecting_spec_error(path)
    assert str(err).startswith(f"{path}:")


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# only a comment\n", "~\n", "hello\n", "- 1\n- 2\n", "42\n", "version: 1\n"],
    ids=["empty", "blank", "comment", "null", "scalar", "list", "number", "partial"],
)
def test_degenerate_documents(tmp_path, text):
    path = _write(tmp_path, text)
    err = load_expecting_spec_error(path)
    assert str(err).startswith(f"{path}:1: ")


def test_recursive_alias(tmp_path):
    """``&x [*x]`` makes a cyclic node graph; converting it must not recurse forever."""
    text = VALID_TEXT.replace("    title: Squeeze-and-Excitation\n", "    title: &loop [*loop]\n", 1)
    path = _write(tmp_path, text)
    err = load_expecting_spec_error(path)
    assert_located(err, path)
    assert err.line == _line_of(text, "title: &loop")


@pytest.mark.parametrize("depth", [100, 1000, 5000])
def test_deeply_nested_yaml(tmp_path, depth):
    text = VALID_TEXT.replace("    title: Squeeze-and-Excitation\n", f"    title: {'[' * depth}{']' * depth}\n", 1)
    path = _write(tmp_path, text)
    err = load_expecting_spec_error(path)
    assert_located(err, path)
    assert err.line == _line_of(text, "    title: [")


def test_integer_catalogue_key_then_unknown_invariant(tmp_path):
    """Two defects together once crashed the message builder (``', '.join`` of a non-string key)."""
    text = VALID_TEXT.replace("  bounded:\n    statement:", "  7: {statement: x, source: y}\n  bounded:\n    statement:", 1)
    text = text.replace("      channel_permutation: {}\n      batch_independent: {unless", "      channel_permutaton: {}\n      batch_independent: {unless", 1)
    path = _write(tmp_path, text)
    err = load_expecting_spec_error(path)
    assert_located(err, path)


_BOMB = """\
import sys, resource, time
resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))
from conformance.spec import load_spec, SpecError
started = time.perf_counter()
try:
    load_spec(sys.argv[1])
except SpecError as err:
    print("SpecError", err.line, round(time.perf_counter() - started, 2))
except BaseException as err:
    print("ESCAPED", type(err).__name__, str(err)[:200])
else:
    print("LOADED")
"""


def test_alias_bomb_is_rejected_quickly(tmp_path):
    """A 'billion laughs' spec (9 levels of 9 aliases, ~400 million nodes from 10 lines) must be
    rejected in bounded time and memory, not expanded node by node."""
    levels = ["      - &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"      - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    bomb = "    title:\n" + "\n".join(levels) + "\n"
    text = VALID_TEXT.replace("    title: Squeeze-and-Excitation\n", bomb, 1)
    path = _write(tmp_path, text)
    try:
        done = run_python(_BOMB, path, cwd=ROOT, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("load_spec did not finish within 20 s on a 10-line alias bomb")
    assert done.stdout.startswith("SpecError"), done.stdout + done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 10, done.stdout


# ---------------------------------------------------------------- random mutations of the valid spec
_LINES = VALID_TEXT.split("\n")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|\d+|\S")
_SPEC_TOKENS = sorted(set(_TOKEN.findall(VALID_TEXT)))
_NASTY_TOKENS = [
    "", " ", "\t", "-1", "0", "1e999", ".inf", ".nan", "9**9**9", "2**200", "[", "]", "{", "}", ":", ",", '"', "'",
    "&a", "*a", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "? x", "- x", "|", ">", "%", "@", "`",
    "null", "~", "true", "yes", "0x1F", "0o17", "1_000", "2001-12-14", "C.__class__", "__import__('os')",
    "open('x')", "(lambda: 1)()", "[c for c in C]", "C[0]", "abs(" * 30 + "1" + ")" * 30, "1" * 5000, "<<", "---", "...",
]
_GARBAGE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=":-[]{}#&*!|>'\"%@`,? \t\n", max_size=20),
    st.sampled_from(_NASTY_TOKENS),
)


@st.composite
def _mutated_spec(draw) -> str:
    lines = list(_LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "replace_token", "insert_garbage", "garbage_line"]))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "replace_token":
            tokens = list(_TOKEN.finditer(lines[i]))
            if not tokens:
                continue
            m = draw(st.sampled_from(tokens))
            new = draw(st.one_of(st.sampled_from(_SPEC_TOKENS), st.sampled_from(_NASTY_TOKENS), st.text(max_size=8)))
            lines[i] = lines[i][: m.start()] + new + lines[i][m.end():]
        elif kind == "insert_garbage":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(_GARBAGE) + lines[i][j:]
        else:
            lines.insert(i, draw(_GARBAGE))
        if not lines:
            lines = [""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def mutation_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mutants")


@settings(max_examples=100, deadline=10_000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=_mutated_spec())
def test_random_mutations_give_a_spec_or_a_spec_error(mutation_dir, text):
    path = mutation_dir / "mutant.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        result = load_spec(path)
    except SpecError as err:
        assert isinstance(err.line, int), f"SpecError without a line number: {err}"
        assert str(err) == f"{path}:{err.line}: {err.message}"
        n_lines = path.read_text(encoding="utf-8", errors="replace").count("\n") + 1
        assert 1 <= err.line <= n_lines, f"line {err.line} outside 1..{n_lines}: {err}"
    else:
        assert isinstance(result, Spec)


def test_mutation_strategy_really_mutates():
    """Guard against a strategy that silently produces the valid spec every time."""
    seen = set()

    @settings(max_examples=30, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=_mutated_spec())
    def collect(text):
        seen.add(text != VALID_TEXT)

    collect()
    assert True in seen
