"""attncert's public Python API, for use inside other projects' test suites.

    from conformance import certify, parametrize_with_checks

    certificate = certify("impl/mine.py")              # in worker processes, like the CLI
    certificate = certify({"se": my_se_factory})      # a mapping of factories: in this process

    @parametrize_with_checks("mine.py", expected_failures={"eca::params.count": "we add a bias"})
    def test_attncert(attncert_check):
        attncert_check()

Files, module names and module objects run in worker processes, exactly as ``attncert certify``
does: a hang ends at the timeout, a crash fails the clause, never the test session. A relative
path given to ``parametrize_with_checks`` is found from the test file's folder. Expected failures
are strict: a listed clause that passes fails the test, so the list cannot go stale.
"""

from __future__ import annotations

import atexit
import functools
import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence, Union

from .certification import Certification, environment, reproduce_command
from .options import DEFAULT_TIMEOUT, RunOptions
from .planning import Inventory, plan
from .pool import Pool
from .results import ClauseResult, Task
from .spec import DEFAULT_SPEC, Spec, load_spec
from .targets import TargetError, TargetRef, resolve

Target = Union[str, Path, ModuleType, Mapping[str, Callable[..., Any]]]


class ClauseFailed(AssertionError):
    """A clause failed; the message holds the reason, the counterexample and the reproduce command."""


@dataclass(frozen=True)
class ClauseParam:
    """One (target, block, clause, setting) — one test in a suite."""

    target: str  # the target as given (a label)
    task: Task
    options: RunOptions = RunOptions()
    ref: TargetRef | None = None  # how a worker finds it; None: a mapping of factories, run in this process

    @property
    def block(self) -> str:
        return self.task.block

    @property
    def clause(self) -> str:
        return self.task.clause

    @property
    def id(self) -> str:
        return self.task.id

    def __repr__(self) -> str:
        return self.id


@functools.lru_cache(maxsize=None)
def _spec(spec_path: Path) -> Spec:
    return load_spec(spec_path)


# ---------------------------------------------------------------- targets
_OBJECT_TARGETS: dict[str, Any] = {}  # label -> mapping of factories given by the caller


def _reference(target: Target, base: Path | None = None) -> tuple[str, TargetRef | None]:
    """A stable label for the target, and how a worker finds it (None: a mapping, run in this process).

    A relative path is looked up in ``base`` (the calling test file's folder) when the file is there.
    """
    if isinstance(target, ModuleType):
        if getattr(target, "__file__", None) is None:
            raise TargetError(f"module {target.__name__} has no file for a worker process to import")
        return target.__name__, TargetRef(label=target.__name__, module=target.__name__)
    if isinstance(target, Mapping):
        label = f"mapping-{id(target):x}"
        _OBJECT_TARGETS[label] = target
        return label, None
    text = str(target)
    if text in _OBJECT_TARGETS:
        return text, None
    if base is not None and not Path(text).is_absolute() and (base / text).is_file():
        text = str(base / text)
    return str(target), resolve(text)


def _caller_folder() -> Path | None:
    """The folder of the first caller outside attncert (a test file's, for parametrize_with_checks)."""
    here = Path(__file__).resolve().parent
    for frame in inspect.stack()[1:]:
        path = Path(frame.filename).resolve()
        if path.parent != here and path.is_file():
            return path.parent
    return None


# ---------------------------------------------------------------- worker pools (one per setting)
_POOLS: dict[RunOptions, Pool] = {}
_CERTIFICATIONS: dict[tuple[RunOptions, TargetRef], Certification] = {}


def _certification(options: RunOptions, ref: TargetRef) -> Certification:
    """The target imported in a worker of the setting's pool (kept for the session)."""
    options = replace(options, blocks=())
    key = (options, ref)
    if key not in _CERTIFICATIONS:
        if options not in _POOLS:
            _POOLS[options] = Pool(options, jobs=1)
        _CERTIFICATIONS[key] = Certification(ref, _spec(options.spec_path), options, _POOLS[options])
    return _CERTIFICATIONS[key]


@atexit.register
def close_pools() -> None:
    """Stop every worker this process started (the pytest plugin calls it at the end of a session)."""
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()
    _CERTIFICATIONS.clear()


def _mapping_adapter(label: str, spec: Spec):
    from .targets import load_adapter

    return load_adapter(TargetRef(label=label), spec, source=dict(_OBJECT_TARGETS[label]))


def _mapping_identity(label: str) -> str:
    """A mapping's example-database identity: what its factories are, not where they sit in memory."""
    return "mapping:" + ",".join(f"{name}={getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__name__)}"
                                 for name, f in sorted(_OBJECT_TARGETS[label].items()))


def _mapping_inventory(adapter) -> Inventory:
    domains = {name: str(formula) for name, formula in adapter.domains.items()}
    return Inventory(sorted(adapter.factories), dict(adapter.variants), domains, {}, {}, {})


# ---------------------------------------------------------------- running clauses
def clause_params(target: Target, blocks: Sequence[str] | None = None, options: RunOptions | None = None,
                  base: Path | None = None) -> list[ClauseParam]:
    """Every clause the spec declares for every block the target provides (and under its declaration)."""
    options = options or RunOptions()
    label, ref = _reference(target, base)
    spec = _spec(options.spec_path)
    if ref is None:
        inventory = _mapping_inventory(_mapping_adapter(label, spec))
    else:
        inventory = _certification(options, ref).inventory
    return [ClauseParam(label, task, options, ref) for task in plan(spec, inventory, blocks or list(spec.blocks))]


def _outcome(param: ClauseParam) -> ClauseResult:
    """Run one clause: in a worker for files and modules, in this process for a mapping."""
    if param.ref is not None:
        certification = _certification(param.options, param.ref)
        certification.run(only=[param.task])
        return certification.results.pop(param.task)
    from .engine import run_task

    spec = _spec(param.options.spec_path)
    return run_task(spec, _mapping_adapter(param.target, spec), _mapping_identity(param.target), param.task, param.options)


def check(param: ClauseParam) -> None:
    """Run one clause; raise ClauseFailed on failure, pytest's Skipped on a skip."""
    __tracebackhide__ = True  # pytest shows the failure, not this function's source
    result = _outcome(param)
    if result.status == "skip":
        import pytest

        pytest.skip(result.message)
    if result.status == "fail":
        lines = [f"{param.id} failed for {param.target}: {result.message}"]
        if result.counterexample is not None:
            lines.append(f"counterexample: {result.counterexample}")
            lines.append("reproduce: " + reproduce_command(param.ref or param.target, param.task, result.counterexample,
                                                           param.options))
        if result.details:
            lines.append("the implementation raised:\n" + result.details.rstrip())
        raise ClauseFailed("\n".join(lines))


def _options(blocks: Sequence[str] | None, spec_path: str | Path | None, profile: str, seed: int, timeout: float,
             device: str, precision: str, runtime: str) -> RunOptions:
    """The run's options; a runtime this machine cannot use raises RuntimeUnavailable (a ValueError)."""
    from .runtimes import require

    options = RunOptions(profile=profile, seed=seed, timeout=timeout, blocks=tuple(blocks or ()),
                         spec_path=Path(spec_path) if spec_path else DEFAULT_SPEC, device=device, precision=precision,
                         runtime=runtime)
    require(_spec(options.spec_path), runtime, device)
    return options


def parametrize_with_checks(target: Target, expected_failures: Mapping[str, str] | None = None,
                            blocks: Sequence[str] | None = None, spec_path: str | None = None,
                            profile: str = "ci", seed: int = 0, timeout: float = DEFAULT_TIMEOUT,
                            device: str = "cpu", precision: str = "strict", runtime: str = "eager"):
    """A pytest decorator: one test per clause, the test function receiving ``attncert_check``.

    ``expected_failures`` maps clause ids (``"eca::params.count"``, or ``"eca::params.count[variant]"``)
    to the reason; those tests are strict xfails. An id that matches no clause is an error.
    """
    import pytest

    options = _options(None, spec_path, profile, seed, timeout, device, precision, runtime)
    params = clause_params(target, blocks, options, base=_caller_folder())
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


def certify(target: Target, blocks: Sequence[str] | None = None, profile: str = "ci", seed: int = 0,
            spec_path: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT, device: str = "cpu",
            precision: str = "strict", runtime: str = "eager"):
    """Certify a target and return its certificate (the same content as the JSON certificate).

    ``precision`` is ``strict``, ``tf32``, ``autocast-bf16`` or ``autocast-fp16``; ``runtime`` is
    ``eager``, ``compile``, ``export`` or ``onnx``. Files, module names and module objects run in
    worker processes (crash- and hang-proof, like the CLI); a mapping of block name -> factory runs
    in this process.
    """
    from . import certificate

    options = _options(blocks, spec_path, profile, seed, timeout, device, precision, runtime)
    spec = _spec(options.spec_path)
    label, ref = _reference(target)
    if ref is not None:
        with Pool(options) as pool:
            certification = Certification(ref, spec, options, pool)
            certification.run()
            return certification.certificate()
    params = clause_params(target, blocks, options)
    inventory = _mapping_inventory(_mapping_adapter(label, spec))
    if not any(inventory.provides(spec, name) for name in blocks or spec.blocks):
        raise TargetError(f"{label} provides none of the blocks' factories")
    results = {p.task: _outcome(p) for p in params}
    from .worker import machine

    inventory.environment.update(machine(options.device))  # this process runs the clauses
    return certificate.build(label, spec, blocks or list(spec.blocks), inventory, [p.task for p in params], results,
                             environment(options, inventory), True, runtime)
