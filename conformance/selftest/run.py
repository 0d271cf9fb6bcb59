"""Certify the mutants on the engine's worker pool, and probe the ones no clause killed.

Every mutant runs on one pool with the certification's own tasks: first its import (an
inventory), then its clauses one at a time in ``CLAUSE_ORDER``, at most ``jobs`` mutants at once.
One clause at a time per mutant means that stopping at its first failure wastes nothing.

A mutant no clause killed is probed: the clauses that compare a block with the spec and the oracle
(``PROBE_CLAUSES``) search it again, on the same pool machinery, with many more examples and
larger sizes (``PROBE_PROFILES``). A failure there makes it a survivor (a gap of the harness); none
makes it equivalent.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from ..certification import Certification
from ..locations import cache_folder
from ..options import RunOptions
from ..pool import Interrupted, Job, Pool
from ..results import ClauseResult, Task
from ..targets import TargetError, TargetRef, resolve
from .mutants import Mutant, prepare, subset, unified_diff, write_mutants
from .summary import summarize


TIMED_OUT = "no result within the"  # how the pool reports a clause that ran out of time

# Stop-at-first-failure order: the oracle's output catches most changes and its input gradient
# most of the rest (detach, in-place); the bookkeeping clauses are cheap; the rest follow.
CLAUSE_ORDER = (
    "oracle.output", "oracle.input_grad", "params.count", "weights.transfer", "construct", "shape.preserved",
    "invariant.bounded", "input.unmutated", "layout.equivalent", "invariant.batch_independent", "deterministic",
    "invariant.train_eval", "invariant.zero", "invariant.kernel_size", "invariant.spatial_permutation",
    "invariant.channel_permutation", "invariant.composition", "oracle.param_grad", "dtype.preserved",
    "device.preserved", "gradcheck", "gradgradcheck", "cuda.agreement",
)

# The probe of a mutant no clause killed: these clauses, searched harder.
PROBE_CLAUSES = ("params.count", "oracle.output", "input.unmutated", "oracle.input_grad")
PROBE_PROFILES = {"ci": "dev", "thorough": "thorough"}
PROBE_EXAMPLES = {"ci": 200, "thorough": 500}
PROBE_TIMEOUT = 600.0


def order_tasks(tasks) -> list[Task]:
    """Clauses in CLAUSE_ORDER (any other last), each across the blocks in plan order."""
    blocks = list(dict.fromkeys(t.block for t in tasks))
    rank = {c: i for i, c in enumerate(CLAUSE_ORDER)}
    return sorted(tasks, key=lambda t: (rank.get(t.clause, len(rank)), blocks.index(t.block), t.declared))


@dataclass
class Record:
    id: str
    operator: str
    blocks: list[str]
    description: str
    status: str = "survived"  # killed | survived | equivalent
    killed_by: str | None = None  # block::clause: the first failure in clause order
    failing: list[str] = field(default_factory=list)  # every failing block::clause that ran
    timeouts: list[str] = field(default_factory=list)  # clauses that ran out of time: no verdict, not a kill
    message: str = ""
    seconds: float = 0.0
    equivalent_reason: str | None = None
    declared_equivalent: str | None = None
    check: dict | None = None  # the probe of a mutant no clause killed
    diff: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def kill(self, by: str, message: str) -> None:
        self.failing.append(by)
        if self.status != "killed":
            self.status, self.killed_by, self.message = "killed", by, " ".join(message.split())[:400]


@dataclass
class _MutantRun:
    """One mutant in flight: its record, and the tasks it has left."""

    mutant: Mutant
    ref: TargetRef
    record: Record
    started: float = field(default_factory=time.monotonic)
    tasks: deque = field(default_factory=deque)
    busy: bool = False


def certify_mutants(mutants: list[Mutant], paths: dict[str, Path], options: RunOptions, jobs: int, mode: str,
                    report: Callable[[Record, int, int], None], records: list[Record]) -> None:
    """Certify each mutant for its blocks into ``records``, as they finish (see the module docstring).
    ``mode`` "first" stops a mutant at its first failing clause, "all" runs every clause. An
    ``Interrupted`` ends the clauses in flight and propagates; unfinished mutants stay out."""
    from ..spec import load_spec

    spec = load_spec(options.spec_path)
    waiting = deque(mutants)
    active: dict[TargetRef, _MutantRun] = {}

    def next_job(previous: Job | None) -> Job | None:
        for run in active.values():
            if not run.busy and run.tasks:
                run.busy = True
                return Job(run.ref, run.tasks.popleft())
        if not waiting:
            return None
        mutant = waiting.popleft()
        ref = resolve(str(paths[mutant.id]))
        active[ref] = run = _MutantRun(mutant, ref, Record(mutant.id, mutant.operator, mutant.blocks, mutant.description,
                                                           declared_equivalent=mutant.equivalent), busy=True)
        return Job(ref)

    def done(job: Job, outcome) -> None:
        run = active[job.target]
        run.busy = False
        if job.task is None:
            _imported(run, outcome)
        elif outcome.status == "fail":
            name = f"{job.task.block}::{job.task.clause}"
            if outcome.message.startswith(TIMED_OUT):  # too slow here is not wrong
                run.record.timeouts.append(name)
            else:
                run.record.kill(name, outcome.message)
                if mode == "first":
                    run.tasks.clear()
        if not run.tasks:
            del active[run.ref]
            run.record.seconds = round(time.monotonic() - run.started, 3)
            records.append(run.record)
            report(run.record, len(records), len(mutants))

    def _imported(run: _MutantRun, inventory) -> None:
        try:
            if isinstance(inventory, TargetError):
                raise inventory
            certification = Certification(run.ref, spec, replace(options, blocks=tuple(run.mutant.blocks)), pool, inventory)
        except TargetError as err:  # it does not import, or provides none of its blocks: killed before any clause
            run.record.kill("import", str(err))
            return
        run.tasks.extend(order_tasks(certification.tasks))

    with Pool(options, jobs) as pool:
        pool.serve(next_job, done)


def check_survivors(items: list[tuple[Path, list[str]]], profile: str = "ci", seed: int = 0, jobs: int = 1,
                    examples: int | None = None) -> list[dict]:
    """Probe each (mutant file, blocks): {"differs": False, "examples": n}, or {"differs": True,
    "block", "case", "message"} (a crash or a hang of the mutant is a difference too)."""
    from ..clauses import CLAUSES
    from ..spec import load_spec

    options = RunOptions(profile=PROBE_PROFILES[profile], seed=seed, timeout=PROBE_TIMEOUT, database=None, shrink=False,
                         examples=examples or PROBE_EXAMPLES[profile])
    spec = load_spec(options.spec_path)
    refs = [resolve(str(path)) for path, _ in items]
    pending = deque(Job(ref, Task(block, clause)) for ref, (_, blocks) in zip(refs, items) for block in blocks
                    for clause in PROBE_CLAUSES if CLAUSES[clause].applies_to(block, spec))
    found: dict[TargetRef, list[ClauseResult]] = {ref: [] for ref in refs}

    def next_job(previous: Job | None) -> Job | None:
        while pending and any(r.status == "fail" for r in found[pending[0].target]):
            pending.popleft()  # this mutant differs already
        return pending.popleft() if pending else None

    with Pool(options, jobs) as pool:
        pool.serve(next_job, lambda job, result: found[job.target].append(result))
    answers = []
    for ref in refs:
        failed = next((r for r in found[ref] if r.status == "fail"), None)
        if failed is None:
            answers.append({"differs": False, "examples": sum(r.examples for r in found[ref]),
                            "clauses": sorted({r.task.clause for r in found[ref]})})
        else:
            answers.append({"differs": True, "block": failed.task.block, "case": failed.counterexample,
                            "message": f"{failed.task.clause}: {failed.message}"})
    return answers


# ================================================================ the run
def classify(record: Record, check: dict | None, declared: str | None) -> None:
    """A mutant no clause killed: equivalent if the probe found no difference, else a survivor."""
    record.check = check or {"message": "not checked (interrupted)"}
    if check is not None and not check.get("differs"):
        record.status = "equivalent"
        record.equivalent_reason = declared or (f"no difference from the spec and the oracle in {check['examples']} "
                                                f"examples of {', '.join(check['clauses'])}")


def run_selftest(profile: str = "ci", subset_only: bool = False, timeout: float = 60.0, folder: Path | None = None,
                 jobs: int | None = None, seed: int = 0, mode: str = "first", progress: Callable[[str], None] | None = None,
                 only: Iterable[str] | None = None, examples: int | None = None,
                 mutants: list[Mutant] | None = None) -> tuple[dict, BaseException | None]:
    """Generate, certify, probe what survives: the summary, and the interrupt that stopped the run (or None).

    ``only``: these mutant ids instead of the profile's selection; ``mutants``: already ``prepare()``d;
    ``examples``: per probed clause, instead of the profile's; ``progress`` hears a line per mutant.
    """
    jobs = jobs or min(2, os.cpu_count() or 1)
    say = progress or (lambda line: None)
    timings: dict[str, float] = {}
    start = time.monotonic()
    mutants = mutants if mutants is not None else prepare()
    chosen = [m for m in mutants if m.id in set(only)] if only is not None else subset(mutants) if subset_only else mutants
    paths = write_mutants(chosen, Path(folder) if folder else cache_folder() / "selftest" / "mutants")
    timings["generate"] = time.monotonic() - start

    def report(record: Record, number: int, count: int) -> None:
        what = f"killed by {record.killed_by}" if record.status == "killed" else "no clause failed"
        say(f"[{number}/{count}] {record.id} ({', '.join(record.blocks)}): {what} ({record.seconds:.1f} s)")

    records: list[Record] = []
    stop: BaseException | None = None
    start = time.monotonic()
    # a failure needs no shrinking here: the selftest needs a verdict, not a minimal case
    options = RunOptions(profile=profile, seed=seed, timeout=timeout, database=None, shrink=False)
    try:
        certify_mutants(chosen, paths, options, jobs, mode, report, records)
    except Interrupted as err:
        stop = err
    timings["certify"] = time.monotonic() - start
    start = time.monotonic()
    by_id = {m.id: m for m in chosen}
    survivors = [r for r in records if r.status == "survived"]
    checks: list[dict | None] = [None] * len(survivors)
    if stop is None and survivors:
        say(f"probing {len(survivors)} mutants no clause killed")
        try:
            checks = check_survivors([(paths[r.id], r.blocks) for r in survivors], profile, seed, jobs, examples)
        except Interrupted as err:
            stop = err
    for record, check in zip(survivors, checks):
        record.diff = unified_diff(by_id[record.id])
        classify(record, check, by_id[record.id].equivalent)
    timings["check"] = time.monotonic() - start
    complete = stop is None and len(records) == len(chosen)
    return summarize(records, len(mutants), profile, mode, subset_only, complete, timings), stop
