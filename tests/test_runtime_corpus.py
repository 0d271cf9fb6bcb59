"""The runtime corpus (tests/corpus/runtime/): blocks right in eager mode that must fail under the
runtimes that break them, each for its documented reason, and right ones that must pass every
runtime; judged by the harness (in this process, the engine the workers run).

torch.compile costs seconds per graph, so under compile a file expected to pass is judged on the
clause that compares it with the oracle; a file expected to fail is judged until its first failure.
"""

import pytest

from conformance.runtimes import RUNTIMES
from conftest import corpus_expectations, judge_in_process

EXPECTATIONS = [pytest.param(p.values[0], p.values[1], runtime, verdict, id=f"{p.id}-{runtime}")
                for p in corpus_expectations("runtime") for runtime, verdict in p.values[2].items()]
FORWARD_ONLY = ("oracle.output",)


@pytest.mark.parametrize("path, block, runtime, verdict", EXPECTATIONS)
def test_runtime_corpus_gets_its_verdict(path, block, runtime, verdict, seed):
    clauses = FORWARD_ONLY if runtime == "compile" and verdict == "pass" else None
    results = list(judge_in_process(path, block, seed, verdict == "fail", runtime, clauses))
    failures = [f"{cid}: {r.message}" for cid, r in results if r.status == "fail"]
    if verdict == "fail":
        assert failures, f"{path.name} ({block}) passed under --runtime {runtime}"
        assert f"--runtime {runtime}" in failures[0] or "traced at" in failures[0], failures[0]
    else:
        assert not failures, "\n".join(failures)
        assert any(r.status == "pass" for _, r in results)


def test_the_runtime_corpus_covers_every_runtime_both_ways():
    seen = {(runtime, verdict) for p in EXPECTATIONS for runtime, verdict in [(p.values[2], p.values[3])]}
    for runtime in RUNTIMES:
        assert (runtime, "pass") in seen
        if runtime != "eager":
            assert (runtime, "fail") in seen, f"no file shows what --runtime {runtime} catches"
    assert all(verdict == "pass" for runtime, verdict in seen if runtime == "eager"), "the corpus is right in eager mode"
