"""``attncert selftest``: the harness measures its own strength by mutation (``pip install "attncert[selftest]"``).

Mutants are generated from the bundled reference (``impl/reference.py``) by libcst transformers,
the operators (``operators/``, registered in ``mutator.OPERATORS`` with what each breaks). An
operator walks the reference and records its sites, found by what the code does (``scan.py``:
``nn.Linear`` is ``torch.nn.Linear`` however it was imported); every alternative at every site is
one mutant, with the stable id ``<operator>-<Class or function>-<n>`` (n counts that operator's
sites in that scope). A mutant is a complete copy of the reference with one change and a docstring
saying what it breaks, written to ``selftest/mutants/<id>.py`` in attncert's cache folder
(``~/.cache/attncert``; stale files removed first), where it plugs in like any adapter.

A mutant is certified (``run.py``, on the engine's worker pool) for the blocks it can affect:
those whose module tree (each factory of the ORIGINAL reference at its sample setting) contains
the class where the change happened; a module-level function affects the classes that call it.
It is killed when any clause fails. Two modes: ``first`` (the default) runs the clauses that kill
most first (``CLAUSE_ORDER``) and stops a mutant at its first failure, so per-clause counts are
"first killer in that order"; ``all`` (``--all-clauses``) runs every clause of the affected
blocks, for exact per-clause counts, several times slower.

A mutant no clause killed is probed: the clauses that compare a block with the spec and the
oracle search it again with many more examples and larger sizes. A difference makes it a
survivor, a gap of the harness; none makes it equivalent, with the operator's reason where it
declares one.

Exit status: 0 when killed / (mutants - equivalent) meets the profile's goal (ci 98 %, thorough
100 %), 1 otherwise, 2 on usage errors, 128 + the signal number when interrupted (the report
then covers the mutants that finished).
"""

from __future__ import annotations

import json
import sys

from .mutants import REFERENCE, Mutant, generate, prepare, subset, unified_diff, write_mutants
from .mutator import OPERATORS
from .run import CLAUSE_ORDER, PROBE_CLAUSES, check_survivors, run_selftest
from .summary import GOALS

__all__ = ["CLAUSE_ORDER", "GOALS", "Mutant", "OPERATORS", "PROBE_CLAUSES", "REFERENCE", "check_survivors", "generate",
           "main_selftest", "prepare", "run_selftest", "subset", "unified_diff", "write_mutants"]


def main_selftest(args) -> int:
    """``attncert selftest`` (the CLI has checked that the reports can be written): see the module docstring."""
    from ..certificate import write_atomically
    from ..report import print_selftest, selftest_markdown

    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    summary, stop = run_selftest(args.profile, args.subset, args.timeout, jobs=args.jobs, seed=args.seed,
                                 mode="all" if args.all_clauses else "first", progress=progress)
    if args.json:
        write_atomically(args.json, json.dumps(summary, indent=2) + "\n")
    if args.markdown:
        write_atomically(args.markdown, selftest_markdown(summary))
    print_selftest(summary, (args.json, args.markdown))
    if stop is not None:
        print(f"\nattncert: interrupted ({stop}); the report covers the {summary['mutants']} mutants that finished",
              file=sys.stderr)
        return 128 + stop.signum
    return 0 if summary["meets_goal"] else 1
