"""Run one clause against one subject: with Hypothesis (search and shrink) or on one given case.

This is the in-process core that the child-process worker runs for the CLI, the pytest plugin and
the Python API alike (``run_task``). It never lets an exception out: every outcome is a ``ClauseResult``.

The cases a clause explores depend only on the run's seed, the block, the setting (plain or
declared) and the clause, never on how the target was spelled. Failing cases go to Hypothesis'
example database under a key naming the target (its resolved path or module), the precision
profile and the device too, and are replayed first on the next run.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
import time
import traceback
from pathlib import Path
from typing import Callable

import hypothesis
from hypothesis import errors as hypothesis_errors
from hypothesis import given

from .cases import DTYPES, Case
from .clauses import CLAUSES, Clause
from .lazy import lazy_torch
from .options import PRECISIONS, PROFILES, RunOptions
from .results import ClauseResult, Task
from .spec import Spec
from .strategies import (ORDINARY_CHANNELS, TYPICAL_CHANNELS, cases, deployment_settings, hypothesis_settings,
                         minimal_case, tied_weight_seed, typical_case)
from .subject import (Adapter, ClauseFailure, Conditions, Subject, Unjudgeable, expected_output, oracle_weights,
                      precision_settings)

torch = lazy_torch()

HARNESS_THREADS = 1  # small tensors: threads cost more than they give, and the machine is shared


def clause_seed(seed: int, task: Task) -> int:
    """The Hypothesis seed of one clause: from the run's seed, block, setting and clause only."""
    text = f"{seed}|{task.block}|{'declared' if task.declared else 'plain'}|{task.clause}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def drawn_dtypes(subject: Subject, clause: Clause) -> tuple[str, ...]:
    """The input dtypes a clause draws: the autocast dtype too under --autocast, where the spec allows it
    (not the other reduced one: torch's autocast does not mix bfloat16 and float16); under a runtime,
    those it can run at all (at its trace input)."""
    autocast = subject.conditions.precision.autocast
    allowed = DTYPES + ((autocast,) if autocast else ())
    runtime = clause.runtime(subject)
    trace = runtime.trace_shape(1)
    return tuple(d for d in clause.dtypes if d in allowed and d in subject.block.dtypes
                 and runtime.input_violation(trace, d) is None)


def _explicit_cases(subject: Subject, clause: Clause, profile, dtypes: tuple[str, ...]) -> list[Case]:
    """The cases tried before the search: the minimal case of each dtype (the first dtype's first of
    all: a failure there is already minimal and shared by the block's clauses), and where a clause
    draws several dtypes, a case of ordinary size in each (typical_case), so every dtype is tried
    whatever Hypothesis draws (its first draws favour the first choice). Under a runtime, with the
    weights and at the ordinary setting its artifacts are built for (compiling or exporting another
    setting would cost seconds and add nothing)."""
    block, variant, domain = subject.block, subject.variant, subject.domain
    runtime = clause.runtime(subject)
    lowest = ORDINARY_CHANNELS if subject.conditions.deployed else TYPICAL_CHANNELS
    explicit = [minimal_case(block, profile, clause, (dtype,), variant, domain) for dtype in dtypes]
    if len(dtypes) > 1:
        explicit += [typical_case(block, clause, dtype, variant, domain, lowest) for dtype in dtypes]
    found = [c for c in explicit if c is not None]
    if runtime.name == "eager":
        return found
    return [c.with_(weight_scale=1.0, weight_seed=tied_weight_seed(c.kwargs, c.input_shape[1])) for c in found
            if runtime.input_violation(c.input_shape, c.dtype) is None]


def reset_torch_state(case: Case) -> None:
    """Start every example from the same global state, whatever the previous one changed."""
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    if torch.get_num_threads() != HARNESS_THREADS:
        torch.set_num_threads(HARNESS_THREADS)
    # Module initialisation is then reproducible per case. (torch.manual_seed would also queue
    # lazy CUDA/XPU/MTIA seeding, costing milliseconds per call.)
    torch.random.default_generator.manual_seed(case.module_seed)


def _describe(err: BaseException) -> str:
    if isinstance(err, ClauseFailure):
        return str(err)
    if isinstance(err, BaseExceptionGroup) and err.exceptions:
        return _describe(err.exceptions[0])
    return f"{type(err).__name__}: {err}"


def _cause(err: BaseException) -> str | None:
    if isinstance(err, BaseExceptionGroup) and err.exceptions:
        return _cause(err.exceptions[0])
    return err.cause if isinstance(err, ClauseFailure) else None


def _details(err: BaseException) -> str:
    """The implementation's traceback where it raised, from its first frame outside the harness;
    empty when the property itself failed, or when no frame is the implementation's (only the
    harness's, torch's and Hypothesis': e.g. gradgradcheck's own complaint)."""
    if isinstance(err, BaseExceptionGroup) and err.exceptions:
        return _details(err.exceptions[0])
    cause = err.__cause__ if isinstance(err, ClauseFailure) else err
    if cause is None:
        return ""
    frames = traceback.extract_tb(cause.__traceback__)
    start = next((i for i, frame in enumerate(frames) if not _ours(frame.filename)), len(frames))
    if all(_ours(frame.filename) or _library(frame.filename) for frame in frames[start:]):
        return ""
    shown = traceback.format_list(frames[start:])
    return "Traceback (most recent call last):\n" + "".join(shown + traceback.format_exception_only(type(cause), cause))


_HARNESS = str(Path(__file__).resolve().parent)
_LIBRARIES = tuple(str(Path(module.__file__).resolve().parent) for module in (hypothesis,))


def _ours(filename: str) -> bool:
    return filename.startswith(_HARNESS)


def _library(filename: str) -> bool:
    """A frame of torch or Hypothesis (torch's folder looked up lazily: the parent never imports it)."""
    return filename.startswith(_LIBRARIES) or filename.startswith(str(Path(torch.__file__).resolve().parent))


def _runtime_note(subject: Subject, clause: Clause, message: str, case: Case | None) -> str:
    """Under a runtime, a failure says at which input and where the artifact was traced (unless it does)."""
    runtime = clause.runtime(subject)
    if runtime.name == "eager" or case is None or "traced at" in message:
        return message
    return (f"{message} (--runtime {runtime.name}: at input {list(case.input_shape)}, the artifact traced at "
            f"{list(runtime.trace_shape(case.input_shape[1]))})")


def _check(subject: Subject, clause: Clause, case: Case) -> None:
    reset_torch_state(case)
    if "float16" in (case.dtype, subject.conditions.precision.autocast):
        # float16 tops out at 65504: a case whose values leave that range overflows in any
        # correct implementation, so it cannot judge anything (Unjudgeable: another is drawn)
        expected_output(subject, case, oracle_weights(subject, case))
    with precision_settings(subject.conditions.precision):
        clause.check(subject, case)


def run_one(subject: Subject, task: Task, case: Case) -> ClauseResult:
    """Replay exactly one case (for `attncert reproduce` and `attncert replay`)."""
    clause = CLAUSES[task.clause]
    skip = clause.skip_reason(subject)
    if skip:
        return ClauseResult(task, "skip", skip)
    start = time.perf_counter()
    try:
        _check(subject, clause, case)
    except Unjudgeable as why:
        return ClauseResult(task, "skip", f"this case cannot judge the clause: {why}", seconds=time.perf_counter() - start)
    except Exception as err:  # the implementation's error becomes the clause's verdict
        return ClauseResult(task, "fail", _runtime_note(subject, clause, _describe(err), case), case.counterexample(),
                            _details(err), 1, time.perf_counter() - start, _cause(err))
    return ClauseResult(task, "pass", "", examples=1, seconds=time.perf_counter() - start)


def run_search(subject: Subject, task: Task, options: RunOptions, database_key: str,
               on_example: Callable[[Case], None] | None = None) -> ClauseResult:
    """Search for a counterexample with Hypothesis; a failure comes back shrunk to its minimal case.

    The explicit cases (``_explicit_cases``) are tried first, and Hypothesis does not shrink them:
    where one of ordinary size fails, the search runs again without them, and the smaller of the two
    failures is reported (the bug is rarely one only an ordinary size shows)."""
    clause = CLAUSES[task.clause]
    skip = clause.skip_reason(subject)
    if skip:
        return ClauseResult(task, "skip", skip)
    dtypes = drawn_dtypes(subject, clause)
    if not dtypes:
        runtime = subject.conditions.runtime
        return ClauseResult(task, "skip", f"does not apply under --runtime {runtime.name}: it draws "
                            f"{'/'.join(clause.dtypes)} inputs only, which the runtime excludes ("
                            + "; ".join(rule.why for rule in runtime.input_domain) + ")")
    if subject.conditions.deployed and not deployment_settings(subject.block, subject.variant, subject.domain):
        return ClauseResult(task, "skip", f"no artifact can be built under --runtime {subject.conditions.runtime.name}: "
                            "no setting of the block's defaults (with any number of channels) lies in its domain "
                            "and takes a [2, C, 5, 7] input")
    explicit = _explicit_cases(subject, clause, PROFILES[options.profile], dtypes)
    start = time.perf_counter()
    result, failing = _search(subject, clause, task, options, database_key, dtypes, explicit, on_example)
    if failing is not None and failing in explicit[1:]:
        again, smaller = _search(subject, clause, task, replace(options, database=None), database_key, dtypes, [],
                                 on_example)
        if smaller is not None and smaller.size() < failing.size():
            result = again.with_(examples=result.examples + again.examples)
    return result.with_(seconds=time.perf_counter() - start)


def _search(subject: Subject, clause: Clause, task: Task, options: RunOptions, database_key: str,
            dtypes: tuple[str, ...], explicit: list[Case],
            on_example: Callable[[Case], None] | None) -> tuple[ClauseResult, Case | None]:
    """One Hypothesis search, the ``explicit`` cases first: its result, and the failing case (or None)."""
    profile = PROFILES[options.profile]
    state: dict = {"case": None, "examples": 0, "failed": set(), "unjudgeable": ""}
    shrink_budget = options.clause_timeout * 0.5 if options.shrink else 1e-3  # report before the timeout kills the worker
    stop_shrinking_at = time.monotonic() + shrink_budget

    def body(case: Case) -> None:
        key = case.to_json()
        # Past the budget, a failure already in hand is good enough: reject new candidates at once,
        # so Hypothesis ends with the smallest failing case found so far (and replays it).
        if state["failed"] and time.monotonic() > stop_shrinking_at and key not in state["failed"]:
            hypothesis.reject()
        state["case"] = case
        if on_example is not None:
            on_example(case)
        try:
            _check(subject, clause, case)
        except Unjudgeable as why:
            state["unjudgeable"] = str(why)
            hypothesis.reject()
        except Exception:
            state["failed"].add(key)
            raise
        finally:
            state["examples"] += 1

    test = given(case=cases(subject.block, profile, clause, dtypes, subject.variant, subject.domain,
                            clause.runtime(subject)))(body)
    for case in reversed(explicit):  # explicit examples run in the order written
        test = hypothesis.example(case=case)(test)
    # seed first, settings after: @seed turns the database off, and the settings turn it back on
    test = hypothesis.seed(clause_seed(options.seed, task))(test)
    examples = options.examples or profile.max_examples
    runtime = clause.runtime(subject)
    if runtime.examples is not None:
        examples = min(examples, runtime.examples)
    _hypothesis_home(options)
    test = hypothesis_settings(profile, options.database, examples)(test)
    # The example database's key: one entry per target, setting, clause and conditions (Hypothesis
    # would otherwise derive it from the test function's source, the same for every clause).
    test._hypothesis_internal_database_key = database_key.encode()  # type: ignore[attr-defined]
    try:
        test()
    except hypothesis_errors.Unsatisfiable:
        # every case drawn was outside a domain or could not judge the clause: the harness cannot
        # judge it here, which says nothing against the implementation
        why = f"; the last could not judge it: {state['unjudgeable']}" if state["unjudgeable"] else ""
        return ClauseResult(task, "skip", f"no case this search may draw can judge the clause ({state['examples']} "
                            f"tried{why})", examples=state["examples"]), None
    except Exception as err:  # Hypothesis re-raises the shrunk example's error last
        case = state["case"]
        return ClauseResult(task, "fail", _runtime_note(subject, clause, _describe(err), case),
                            case.counterexample() if case else None, _details(err), state["examples"],
                            cause=_cause(err)), case
    return ClauseResult(task, "pass", "", examples=state["examples"]), None


def _hypothesis_home(options: RunOptions) -> None:
    """Hypothesis' own files go beside the run's example database (or into the temporary folder),
    never into the current folder."""
    from hypothesis.configuration import set_hypothesis_home_dir

    home = Path(options.database).parent if options.database else Path(tempfile.gettempdir()) / "attncert"
    set_hypothesis_home_dir(home / "hypothesis")


def subject_for(spec: Spec, adapter: Adapter, task: Task, options: RunOptions) -> Subject:
    """The one way to build a task's Subject: the block, the adapter's declaration when the task is
    declared, and the run's conditions."""
    block = spec.block(task.block)
    return Subject(spec, block, adapter,
                   adapter.variants.get(block.name, {}) if task.declared else {},
                   adapter.domains.get(block.name) if task.declared else None,
                   Conditions(options.device, PRECISIONS[options.precision], spec.runtime(options.runtime)))


def database_key(identity: str, task: Task, options: RunOptions) -> str:
    """Where a task's failing examples are kept: the target's identity (its resolved path, not its
    spelling), the task, and the conditions they failed under."""
    return "|".join([identity, task.block, str(task.declared), task.clause, options.device, options.precision, options.runtime])


def run_task(spec: Spec, adapter: Adapter, identity: str, task: Task, options: RunOptions, case: Case | None = None,
             on_example: Callable[[Case], None] | None = None) -> ClauseResult:
    """Run one task: replay ``case`` if given, else search. The worker and the in-process API both call this."""
    subject = subject_for(spec, adapter, task, options)
    if subject.conditions.deployed:
        from .runtimes import RUNTIMES

        RUNTIMES[options.runtime].begin_task((identity, task.block))
    if case is not None:
        return run_one(subject, task, case)
    return run_search(subject, task, options, database_key(identity, task, options), on_example)
