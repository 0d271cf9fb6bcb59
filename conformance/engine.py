"""Run one clause against one subject: with Hypothesis (search and shrink) or on one given case.

This is the in-process core shared by the child-process worker (``attncert certify``), the pytest
plugin and the Python API. It never lets an exception out: every outcome is a ``ClauseOutcome``.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import hypothesis
import torch
from hypothesis import errors as hypothesis_errors
from hypothesis import given

from .cases import Case
from .clauses import Clause
from .strategies import Profile, cases, hypothesis_settings
from .subject import ClauseFailure, Subject

HARNESS_THREADS = 1  # small tensors: threads cost more than they give, and the machine is shared


@dataclass
class ClauseOutcome:
    status: str  # pass | fail | skip
    message: str = ""
    case: Case | None = None
    details: str = ""  # traceback of the implementation's error, for `attncert reproduce`
    examples: int = 0
    seconds: float = 0.0


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


def _details(err: BaseException) -> str:
    """The traceback, starting from the implementation's frames where there are any."""
    cause = err.__cause__ or err
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))


def run_one(subject: Subject, clause: Clause, case: Case) -> ClauseOutcome:
    """Replay exactly one case (for `attncert reproduce` and `attncert replay`)."""
    start = time.perf_counter()
    reset_torch_state(case)
    try:
        clause.check(subject, case)
    except hypothesis_errors.UnsatisfiedAssumption:
        return ClauseOutcome("skip", "the case is outside what this clause draws", case, seconds=time.perf_counter() - start)
    except Exception as err:  # the implementation's error becomes the clause's verdict
        return ClauseOutcome("fail", _describe(err), case, _details(err), 1, time.perf_counter() - start)
    return ClauseOutcome("pass", "", case, examples=1, seconds=time.perf_counter() - start)


def run_search(
    subject: Subject,
    clause: Clause,
    profile: Profile,
    seed: int,
    database_dir: str | None,
    key: str,
    on_example: Callable[[Case], None] | None = None,
    max_examples: int | None = None,
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
        state["case"], state["examples"] = case, state["examples"] + 1
        if on_example is not None:
            on_example(case)
        reset_torch_state(case)
        try:
            clause.check(subject, case)
        except Exception:
            state["failed"].add(key)
            raise

    strategy = cases(subject.block, profile, clause.dtypes, clause.layouts, clause.max_numel, clause.min_batch,
                     clause.max_channels, subject.variant)
    test = given(case=strategy)(body)
    test = hypothesis_settings(profile, database_dir, max_examples)(test)
    # Each clause searches from its own seed, derived from the run's: clauses then cover different
    # parts of the domain instead of replaying the same first examples.
    test = hypothesis.seed(int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:8], "big"))(test)
    # One example-database entry per implementation, block, variant and clause.
    test._hypothesis_internal_add_digest = key.encode()  # type: ignore[attr-defined]
    start = time.perf_counter()
    try:
        test()
    except hypothesis_errors.Unsatisfiable as err:
        return ClauseOutcome("fail", f"no valid case could be generated: {err}", None, "", 0, time.perf_counter() - start)
    except Exception as err:  # Hypothesis re-raises the shrunk example's error last
        return ClauseOutcome("fail", _describe(err), state["case"], _details(err), state["examples"], time.perf_counter() - start)
    return ClauseOutcome("pass", "", None, "", state["examples"], time.perf_counter() - start)
