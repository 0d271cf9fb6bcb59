"""Run one clause against one subject: with Hypothesis (search and shrink) or on one given case.

This is the in-process core that the child-process worker runs for the CLI, the pytest plugin and
the Python API alike. It never lets an exception out: every outcome is a ``ClauseOutcome``.

The cases a clause explores depend only on the run's seed, the block, the setting (plain or
declared) and the clause, never on how the target was spelled. Failing cases go to Hypothesis'
example database under a key naming the target (its resolved path or module), the precision
profile and the device too, and are replayed first on the next run.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import hypothesis
from hypothesis import errors as hypothesis_errors
from hypothesis import given

from .cases import DTYPES, Case
from .clauses import Clause
from .lazy import lazy_torch
from .strategies import Profile, cases, hypothesis_settings, minimal_case, typical_case
from .subject import ClauseFailure, Subject, Unjudgeable, expected_output, oracle_weights, precision_settings

torch = lazy_torch()

HARNESS_THREADS = 1  # small tensors: threads cost more than they give, and the machine is shared


@dataclass
class ClauseOutcome:
    status: str  # pass | fail | skip
    message: str = ""
    case: Case | None = None
    details: str = ""  # traceback of the implementation's error, for `attncert reproduce`
    examples: int = 0
    seconds: float = 0.0
    cause: str | None = None  # a reason shared with other clauses (the constructor raised, ...)


def clause_seed(seed: int, block: str, declared: bool, clause: str) -> int:
    """The Hypothesis seed of one clause: from the run's seed, block, setting and clause only."""
    text = f"{seed}|{block}|{'declared' if declared else 'plain'}|{clause}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def drawn_dtypes(subject: Subject, clause: Clause) -> tuple[str, ...]:
    """The input dtypes a clause draws: the autocast dtype too under --autocast, where the spec allows it
    (not the other reduced one: torch's autocast does not mix bfloat16 and float16)."""
    autocast = subject.conditions.precision.autocast
    allowed = DTYPES + ((autocast,) if autocast else ())
    return tuple(d for d in clause.dtypes if d in allowed and d in subject.block.dtypes)


def reset_torch_state(case: Case) -> None:
    """Start every example from the same global state, whatever the previous one changed."""
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    if torch.get_num_threads() != HARNESS_THREADS:
        torch.set_num_threads(HARNESS_THREADS)
    # Module initialisation is then reproducible per case. (torch.manual_seed would also queue
    # lazy CUDA/XPU/MTIA seeding, costing milliseconds per call.)
    torch.random.default_generator.manual_seed(case.seed)


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
    """The implementation's traceback where it raised; empty when the property itself failed."""
    if isinstance(err, BaseExceptionGroup) and err.exceptions:
        return _details(err.exceptions[0])
    cause = err.__cause__ if isinstance(err, ClauseFailure) else err
    if cause is None:
        return ""
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))


def _check(subject: Subject, clause: Clause, case: Case) -> None:
    reset_torch_state(case)
    if "float16" in (case.dtype, subject.conditions.precision.autocast):
        # float16 tops out at 65504: a case whose values leave that range overflows in any
        # correct implementation, so it cannot judge anything (Unjudgeable: another is drawn)
        expected_output(subject, case, oracle_weights(subject, case))
    with precision_settings(subject.conditions.precision):
        clause.check(subject, case)


def run_one(subject: Subject, clause: Clause, case: Case) -> ClauseOutcome:
    """Replay exactly one case (for `attncert reproduce` and `attncert replay`)."""
    skip = clause.skip_reason(subject)
    if skip:
        return ClauseOutcome("skip", skip, case)
    start = time.perf_counter()
    try:
        _check(subject, clause, case)
    except Unjudgeable as why:
        return ClauseOutcome("skip", f"this case cannot judge the clause: {why}", case, seconds=time.perf_counter() - start)
    except Exception as err:  # the implementation's error becomes the clause's verdict
        return ClauseOutcome("fail", _describe(err), case, _details(err), 1, time.perf_counter() - start, _cause(err))
    return ClauseOutcome("pass", "", case, examples=1, seconds=time.perf_counter() - start)


def run_search(
    subject: Subject,
    clause: Clause,
    profile: Profile,
    seed: int,
    database_dir: str | None,
    database_key: str,
    declared: bool = False,
    on_example: Callable[[Case], None] | None = None,
    shrink_budget: float | None = None,
) -> ClauseOutcome:
    """Search for a counterexample with Hypothesis; a failure comes back shrunk to its minimal case."""
    skip = clause.skip_reason(subject)
    if skip:
        return ClauseOutcome("skip", skip)
    state: dict = {"case": None, "examples": 0, "failed": set()}
    stop_shrinking_at = time.monotonic() + shrink_budget if shrink_budget else None

    def body(case: Case) -> None:
        key = case.to_json()
        # Past the budget, a failure already in hand is good enough: reject new candidates at once,
        # so Hypothesis ends with the smallest failing case found so far (and replays it).
        if state["failed"] and stop_shrinking_at and time.monotonic() > stop_shrinking_at and key not in state["failed"]:
            hypothesis.reject()
        state["case"] = case
        if on_example is not None:
            on_example(case)
        try:
            _check(subject, clause, case)
        except Unjudgeable:
            hypothesis.reject()
        except Exception:
            state["failed"].add(key)
            raise
        finally:
            state["examples"] += 1

    dtypes = drawn_dtypes(subject, clause)
    test = given(case=cases(subject.block, profile, clause, dtypes, subject.variant, subject.domain))(body)
    # The minimal case of each dtype, tried first (the first dtype's first of all): a failure there is
    # already minimal and shared by the block's clauses, and every dtype is tried whatever Hypothesis
    # draws (its first draws favour the first choice: at some seeds a dozen cases were all float64).
    # Where a clause draws several dtypes, a case of ordinary size in each follows (typical_case).
    explicit = [minimal_case(subject.block, profile, clause, (dtype,), subject.variant, subject.domain) for dtype in dtypes]
    if len(dtypes) > 1:
        explicit += [typical_case(subject.block, clause, dtype, subject.variant, subject.domain) for dtype in dtypes]
    for case in reversed([c for c in explicit if c is not None]):  # explicit examples run in the order written
        test = hypothesis.example(case=case)(test)
    # seed first, settings after: @seed turns the database off, and the settings turn it back on
    test = hypothesis.seed(clause_seed(seed, subject.block.name, declared, clause.id))(test)
    test = hypothesis_settings(profile, database_dir)(test)
    # The example database's key: one entry per target, setting, clause and conditions (Hypothesis
    # would otherwise derive it from the test function's source, the same for every clause).
    test._hypothesis_internal_database_key = database_key.encode()  # type: ignore[attr-defined]
    start = time.perf_counter()
    try:
        test()
    except hypothesis_errors.Unsatisfiable as err:
        return ClauseOutcome("fail", f"no valid case could be generated: {err}", None, "", 0, time.perf_counter() - start)
    except Exception as err:  # Hypothesis re-raises the shrunk example's error last
        return ClauseOutcome("fail", _describe(err), state["case"], _details(err), state["examples"],
                             time.perf_counter() - start, _cause(err))
    return ClauseOutcome("pass", "", None, "", state["examples"], time.perf_counter() - start)
