"""The harness judged on correct implementations: it must accept them.

tests/corpus/correct/: independent re-implementations with other structure, names or layouts;
every block they provide (their EXPECT, all "pass") must pass every clause, and no clause may be
skipped (but cuda.agreement without CUDA). The clauses run in this process (the engine the workers
run), under the suite's ``--seed``.
"""

import pytest

from conftest import CORPUS, corpus_expectations, judge_in_process


@pytest.mark.parametrize("path, block, verdict", list(corpus_expectations("correct")))
def test_correct_reimplementation_is_accepted(path, block, verdict, seed):
    assert verdict == "pass"
    results = list(judge_in_process(path, block, seed, stop_at_first_failure=False))
    failures = [f"{cid}: {o.message} at {o.counterexample}" for cid, o in results if o.status == "fail"]
    assert not failures, "\n".join(failures)
    skipped = [cid for cid, o in results if o.status == "skip" and cid != "cuda.agreement"]
    assert not skipped, f"clauses skipped for a correct implementation: {skipped}"


def test_correct_corpus_is_big_enough():
    assert len(list((CORPUS / "correct").glob("*.py"))) >= 6
