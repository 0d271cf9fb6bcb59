"""attncert's public Python API, for use inside other projects' test suites.

    from conformance import certify, parametrize_with_checks

    certificate = certify("impl/mine.py")              # child process, like the CLI
    certificate = certify({"se": my_se_factory})      # in-process, a mapping of block -> factory

    @parametrize_with_checks("impl/mine.py", expected_failures={"eca::params.count": "we add a bias"})
    def test_attncert(attncert_check):
        attncert_check()

Expected failures are strict: a listed clause that passes fails the test, so the list cannot go stale.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence, Union

from .certificate import BlockResult, Certificate, ClauseResult, RunResult
from .runner import DEFAULT_TIMEOUT, Run, RunOptions, environment, reproduce_command
from .spec import DEFAULT_SPEC, Spec, load_spec
from .targets import TargetError, TargetRef, load_adapter, resolve

Target = Union[str, Path, ModuleType, Mapping[str, Callable[..., Any]]]


class ClauseFailed(AssertionError):
    """A clause failed; the message holds the reason, the counterexample and the reproduce command."""


@dataclass(frozen=True)
class ClauseParam:
    """One (target, block, clause, setting) — one test in a suite."""

    target: str
    block: str
    clause: str
    variant: bool = False
    spec_path: str | None = None

    @property
    def id(self) -> str:
        return f"{self.block}::{self.clause}" + ("[variant]" if self.variant else "")

    def __repr__(self) -> str:
        return self.id


@functools.lru_cache(maxsize=None)
def _spec(spec_path: str | None) -> Spec:
    return load_spec(spec_path or DEFAULT_SPEC)


_OBJECT_TARGETS: dict[str, Any] = {}  # label -> module object or mapping given to clause_params


def _adapter(target: Target):
    """An Adapter for a file, module name, module object or mapping (cached for names and paths)."""
    if isinstance(target, (str, Path)):
        if str(target) in _OBJECT_TARGETS:  # a label that clause_params gave to an object
            target = _OBJECT_TARGETS[str(target)]
        else:
            return _adapter_by_name(str(target))
    label = getattr(target, "__name__", f"mapping-{id(target):x}")
    return load_adapter(TargetRef(label=label), source=target)


@functools.lru_cache(maxsize=None)
def _adapter_by_name(target: str):
    return load_adapter(resolve(target))


def clause_params(target: Target, blocks: Sequence[str] | None = None, spec_path: str | None = None) -> list[ClauseParam]:
    """Every clause the spec declares for every block the target provides (and its declared variant)."""
    from .clauses import clauses_for

    spec = _spec(spec_path)
    adapter = _adapter(target)
    label = str(target) if isinstance(target, (str, Path)) else adapter.label
    if not isinstance(target, (str, Path)):
        _OBJECT_TARGETS[label] = target  # the tests find this very object again, not a namesake
    params = []
    for name in blocks or list(spec.blocks):
        block = spec.block(name)
        if block.factory not in adapter.factories:
            continue
        for variant in (False, True) if name in adapter.variants else (False,):
            params += [ClauseParam(label, name, c.id, variant, spec_path) for c in clauses_for(name, spec)]
    return params


def _outcome(param: ClauseParam, profile: str, seed: int, target: Target | None = None):
    from .clauses import CLAUSES
    from .engine import run_search
    from .strategies import PROFILES
    from .subject import Subject

    spec = _spec(param.spec_path)
    adapter = _adapter(target if target is not None else param.target)
    variant = adapter.variants.get(param.block, {}) if param.variant else {}
    subject = Subject(spec, spec.block(param.block), adapter, variant)
    return run_search(subject, CLAUSES[param.clause], PROFILES[profile], seed, ".attncert/examples",
                      f"{param.target}|{param.block}/{param.variant}/{param.clause}")


def check(param: ClauseParam, profile: str = "ci", seed: int = 0) -> None:
    """Run one clause in-process; raise ClauseFailed on failure, pytest's Skipped on a skip."""
    outcome = _outcome(param, profile, seed)
    if outcome.status == "skip":
        import pytest

        pytest.skip(outcome.message)
    if outcome.status == "fail":
        lines = [f"{param.id} failed for {param.target}: {outcome.message}"]
        if outcome.case is not None:
            counterexample = outcome.case.counterexample()
            lines.append(f"counterexample: {counterexample}")
            ref = TargetRef(label=param.target)
            options = RunOptions(spec_path=Path(param.spec_path) if param.spec_path else DEFAULT_SPEC)
            lines.append("reproduce: " + reproduce_command(ref, param.block, param.clause, param.variant, counterexample, options))
        raise ClauseFailed("\n".join(lines))


def parametrize_with_checks(target: Target, expected_failures: Mapping[str, str] | None = None,
                            blocks: Sequence[str] | None = None, spec_path: str | None = None):
    """A pytest decorator: one test per clause, the test function receiving ``attncert_check``.

    ``expected_failures`` maps clause ids (``"eca::params.count"``, or ``"eca::params.count[variant]"``)
    to the reason; those tests are strict xfails. An id that matches no clause is an error.
    """
    import pytest

    params = clause_params(target, blocks, spec_path)
    expected = dict(expected_failures or {})
    known = {p.id for p in params}
    stale = sorted(set(expected) - known)
    if stale:
        raise ValueError(f"expected_failures names clauses that {target} does not have: {stale}")
    for reason in expected.values():
        if not reason or not reason.strip():
            raise ValueError("every expected failure needs a reason")
    values = []
    for p in params:
        marks = [pytest.mark.xfail(reason=expected[p.id], strict=True, raises=ClauseFailed)] if p.id in expected else []
        values.append(pytest.param(functools.partial(check, p), id=p.id, marks=marks))
    return pytest.mark.parametrize("attncert_check", values)


def certify(target: Target, blocks: Sequence[str] | None = None, profile: str = "ci", seed: int | None = None,
            spec_path: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> Certificate:
    """Certify a target and return its certificate (same content as the JSON certificate).

    Files and module names run in a child process (crash- and hang-proof, like the CLI); a module
    object or a mapping of block name -> factory runs in this process.
    """
    seed = 0 if seed is None else seed
    spec = _spec(str(spec_path) if spec_path else None)
    options = RunOptions(profile=profile, seed=seed, timeout=timeout, blocks=list(blocks or []),
                         spec_path=Path(spec_path) if spec_path else DEFAULT_SPEC)
    if isinstance(target, (str, Path)):
        return Run(resolve(str(target)), spec, options).execute()
    adapter = _adapter(target)
    result: dict[str, BlockResult] = {}
    for name in blocks or list(spec.blocks):
        if spec.block(name).factory not in adapter.factories:
            result[name] = BlockResult(provided=False)
            continue
        params = clause_params(target, [name], str(spec_path) if spec_path else None)
        block = BlockResult(provided=True)
        for variant in sorted({p.variant for p in params}):
            run = RunResult([p.clause for p in params if p.variant == variant])
            for p in params:
                if p.variant == variant:
                    o = _outcome(p, profile, seed, target)
                    run.clauses.append(ClauseResult(p.clause, o.status, o.message,
                                                    o.case.counterexample() if o.case and o.status == "fail" else None,
                                                    None, o.examples, o.seconds, o.details))
            if variant:
                block.variant, block.declared = run, adapter.variants[name]
            else:
                block.plain = run
        result[name] = block
    if not any(b.provided for b in result.values()):
        raise TargetError(f"{adapter.label} provides none of the blocks' factories")
    return Certificate(adapter.label, environment(options), result)
