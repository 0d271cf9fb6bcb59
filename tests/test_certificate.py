"""What a certificate records of each clause: one result type (``conformance.results.ClauseResult``)
from the engine through the worker protocol into the certificate, with exactly the fields a
certificate's clause always had; and clauses that fail for one reason are reported together with one
shared minimal case.
"""

import json

import pytest

from conftest import CORPUS
from conformance.certification import Certification
from conformance.options import RunOptions
from conformance.pool import Pool
from conformance.report import failure_groups
from conformance.results import ClauseResult, Task
from conformance.spec import load_spec
from conformance.targets import resolve

SPEC = load_spec()
CASE = {"in_channel": 4, "ratio": 4, "input_shape": [1, 4, 1, 1], "dtype": "float64", "memory_format": "contiguous",
        "seed": 0}
RESULTS = [
    ClauseResult(Task("se", "shape.preserved"), "pass", examples=12, seconds=0.25),
    ClauseResult(Task("se", "cuda.agreement"), "skip", "CUDA is not available"),
    ClauseResult(Task("se", "oracle.output", declared=True), "fail", "output differs at [0, 1, 0, 0]", CASE,
                 "Traceback (most recent call last):\n  ...\nRuntimeError: boom\n", 7, 1.23456789, "weights.transfer"),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{r.status}-{r.task.id}")
def test_a_clause_result_survives_the_worker_protocol(result):
    """What a worker sends (``to_message``, as a JSON line) is what the parent rebuilds (``from_message``)."""
    assert ClauseResult.from_message(result.to_message()) == result
    assert ClauseResult.from_message(json.loads(json.dumps(result.to_message()))) == result


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{r.status}-{r.task.id}")
def test_a_certificate_clause_has_exactly_its_fields(result):
    """id, status, message, counterexample, reproduce, examples, seconds; details and cause only when set."""
    reproducible = result.with_(reproduce="attncert reproduce x.py se::oracle.output --case {}")
    data = reproducible.to_json()
    optional = [key for key in ("details", "cause") if getattr(result, key)]
    assert list(data) == ["id", "status", "message", "counterexample", "reproduce", "examples", "seconds", *optional]
    assert data["id"] == result.task.clause and data["status"] == result.status
    assert data["counterexample"] == result.counterexample and data["reproduce"] == reproducible.reproduce
    assert data["seconds"] == round(result.seconds, 3) and data["examples"] == result.examples
    assert all(data[key] == getattr(result, key) for key in optional)
    assert json.loads(json.dumps(data)) == data


def test_a_clause_result_has_a_known_status():
    with pytest.raises(ValueError, match="unknown clause status"):
        ClauseResult(Task("se", "shape.preserved"), "passed")


def test_one_root_cause_is_shown_once_with_a_shared_minimal_case():
    """A bias makes the weights untransferable: every clause that needs them fails for that one cause."""
    options = RunOptions(database=None, blocks=("se",))
    with Pool(options, jobs=1) as pool:
        certification = Certification(resolve(str(CORPUS / "mutants" / "se_bias.py")), SPEC, options, pool)
        certification.run()
        clauses = certification.certificate().to_json()["blocks"]["se"]["clauses"]
    groups = failure_groups(clauses)
    transfer = [g for g in groups if "weights.transfer" in g.ids]
    assert len(transfer) == 1 and len(transfer[0].ids) > 3, [g.ids for g in groups]
    cases = {json.dumps(c["counterexample"], sort_keys=True) for c in transfer[0].clauses}
    assert len(cases) == 1, cases  # one minimal case, shared
    assert all(c["cause"] == "weights.transfer" for c in transfer[0].clauses)


def test_a_certificates_repr_is_one_line_of_verdicts():
    from conformance.certificate import BlockResult, Certificate, RunResult

    cert = Certificate("mine.py", {"runtime": "onnx"}, {"se": BlockResult(True, RunResult([])),
                                                        "eca": BlockResult(False)})
    assert repr(cert) == "Certificate('mine.py', runtime='onnx': se=pass)"
