"""The harness judged on wrong implementations whose verdict we know.

tests/corpus/mutants/: each file breaks one thing the documents imply; every block listed as "fail"
in the file's EXPECT must be rejected (a clause fails), every block listed as "pass" accepted. A
mutant that slips through means the engine is wrong, not the corpus. The clauses run in this
process (the engine the workers run), under the suite's ``--seed``, each mutant's block up to its
first failure.
"""

import pytest

from conftest import corpus_expectations, judge_in_process


@pytest.mark.parametrize("path, block, verdict", list(corpus_expectations("mutants")))
def test_mutant_is_judged_as_expected(path, block, verdict, seed):
    results = list(judge_in_process(path, block, seed, stop_at_first_failure=verdict == "fail"))
    failures = [f"{cid}: {o.message}" for cid, o in results if o.status == "fail"]
    if verdict == "fail":
        assert failures, f"the harness accepted the mutant {path.name} ({block}): {path.read_text().split(chr(10))[0]}"
    else:
        assert not failures, failures


def test_mutant_corpus_is_big_enough():
    assert len(list(corpus_expectations("mutants"))) >= 25
