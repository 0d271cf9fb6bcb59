"""The harness judged on implementations whose verdict we know.

tests/corpus/mutants/: wrong implementations, each breaking one thing the documents imply; every
block listed as "fail" in the file's EXPECT must be rejected. tests/corpus/correct/: independent
re-implementations with other structure, names or layouts; every block they provide must pass
every clause. A mutant that slips through means the engine is wrong, not the corpus. The clauses
run in this process (the engine the workers run), under the suite's ``--seed``.
"""

import ast
from pathlib import Path

import pytest

from conformance.clauses import clauses_for
from conformance.engine import run_search
from conformance.spec import load_spec
from conformance.strategies import PROFILES
from conformance.subject import Subject
from conformance.targets import TargetRef, load_adapter

CORPUS = Path(__file__).resolve().parent / "corpus"
SPEC = load_spec()


def expectations(folder: str):
    """(file, block, verdict) for every EXPECT entry of every corpus file, read without importing it."""
    for path in sorted((CORPUS / folder).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        expect = next(
            (ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXPECT" for t in node.targets)),
            None,
        )
        assert expect, f"{path.name} has no EXPECT"
        for block, verdict in expect.items():
            yield pytest.param(path, block, verdict, id=f"{path.stem}-{block}")


def outcomes(path: Path, block: str, seed: int, stop_at_first_failure: bool):
    adapter = load_adapter(TargetRef(path.stem, str(path)), SPEC)
    assert SPEC.block(block).factory in adapter.factories, f"{path.name} provides no {block}"
    subject = Subject(SPEC, SPEC.block(block), adapter)
    for clause in clauses_for(block, SPEC):
        outcome = run_search(subject, clause, PROFILES["ci"], seed, None, f"corpus|{path.name}|{block}|{clause.id}")
        yield clause.id, outcome
        if stop_at_first_failure and outcome.status == "fail":
            return


@pytest.mark.parametrize("path, block, verdict", list(expectations("mutants")))
def test_mutant_is_judged_as_expected(path, block, verdict, seed):
    results = list(outcomes(path, block, seed, stop_at_first_failure=verdict == "fail"))
    failures = [f"{cid}: {o.message}" for cid, o in results if o.status == "fail"]
    if verdict == "fail":
        assert failures, f"the harness accepted the mutant {path.name} ({block}): {path.read_text().split(chr(10))[0]}"
    else:
        assert not failures, failures


@pytest.mark.parametrize("path, block, verdict", list(expectations("correct")))
def test_correct_reimplementation_is_accepted(path, block, verdict, seed):
    assert verdict == "pass"
    results = list(outcomes(path, block, seed, stop_at_first_failure=False))
    failures = [f"{cid}: {o.message} at {o.case and o.case.counterexample()}" for cid, o in results if o.status == "fail"]
    assert not failures, "\n".join(failures)
    skipped = [cid for cid, o in results if o.status == "skip" and cid != "cuda.agreement"]
    assert not skipped, f"clauses skipped for a correct implementation: {skipped}"


def test_corpus_is_big_enough():
    assert len(list(expectations("mutants"))) >= 25
    assert len(list((CORPUS / "correct").glob("*.py"))) >= 6
