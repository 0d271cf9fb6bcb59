"""The harness judged on implementations whose verdict we know.

tests/corpus/mutants/: wrong implementations, each breaking one thing the documents imply; every
block listed as "fail" in the file's EXPECT must be rejected. tests/corpus/correct/: independent
re-implementations with other structure, names or layouts; every block they provide must pass
every clause. A mutant that slips through means the engine is wrong, not the corpus.
"""

import ast
from pathlib import Path

import pytest

from conformance.api import _outcome, clause_params

CORPUS = Path(__file__).resolve().parent / "corpus"


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


def outcomes(path: Path, block: str, stop_at_first_failure: bool):
    for param in clause_params(str(path), blocks=[block]):
        if param.variant:
            continue
        outcome = _outcome(param, profile="ci", seed=0)
        yield param, outcome
        if stop_at_first_failure and outcome.status == "fail":
            return


@pytest.mark.parametrize("path, block, verdict", list(expectations("mutants")))
def test_mutant_is_judged_as_expected(path, block, verdict):
    results = list(outcomes(path, block, stop_at_first_failure=verdict == "fail"))
    assert results, f"{path.name} provides no {block}"
    failures = [f"{p.id}: {o.message}" for p, o in results if o.status == "fail"]
    if verdict == "fail":
        assert failures, f"the harness accepted the mutant {path.name} ({block}): {path.read_text().split(chr(10))[0]}"
    else:
        assert not failures, failures


@pytest.mark.parametrize("path, block, verdict", list(expectations("correct")))
def test_correct_reimplementation_is_accepted(path, block, verdict):
    assert verdict == "pass"
    results = list(outcomes(path, block, stop_at_first_failure=False))
    assert results
    failures = [f"{p.id}: {o.message} at {o.case and o.case.counterexample()}" for p, o in results if o.status == "fail"]
    assert not failures, "\n".join(failures)
    skipped = [p.id for p, o in results if o.status == "skip" and p.clause != "cuda.agreement"]
    assert not skipped, f"clauses skipped for a correct implementation: {skipped}"


def test_corpus_is_big_enough():
    assert len(list(expectations("mutants"))) >= 25
    assert len(list((CORPUS / "correct").glob("*.py"))) >= 6
