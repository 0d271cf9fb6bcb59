"""Clause-level facts that hold for every clause, and the weight transfer the oracle clauses rely on.

Every clause's docstring is what ``attncert explain`` prints: a statement, then ``Source:``,
``Causes:`` and ``Fix:`` once each, in that order; every clause applies to some block of the spec.
Canonical weights go to an implementation by registration order only where kinds agree: a weight is
never mapped onto a bias.
"""

import re

import pytest
import torch
from torch import nn

from conformance.clauses import CLAUSES
from conformance.explain import explain, parse_doc
from conformance.spec import load_spec
from conformance.subject import Adapter, ClauseFailure, Subject, transfer

SPEC = load_spec()


@pytest.mark.parametrize("clause_id", list(CLAUSES))
def test_every_clause_has_an_explanation(clause_id):
    doc = CLAUSES[clause_id].doc
    parts = parse_doc(doc)
    for part, text in parts.items():
        assert len(text) >= 10, f"{clause_id}: the docstring's {part} is missing or empty:\n{doc}"
    labels = [line.split(":")[0] for line in doc.splitlines() if re.match(r"(Source|Causes|Fix):", line.strip())]
    assert labels == ["Source", "Causes", "Fix"], f"{clause_id}: expected Source:, Causes:, Fix: once each, in order"
    assert not parts["statement"].startswith(("Source:", "Causes:", "Fix:")), "the first paragraph is the statement"


@pytest.mark.parametrize("clause_id", list(CLAUSES))
def test_every_clause_applies_to_some_block_and_explains(clause_id):
    assert any(CLAUSES[clause_id].applies_to(name, SPEC) for name in SPEC.blocks)
    text = explain(SPEC, clause_id)
    parts = parse_doc(CLAUSES[clause_id].doc)
    flat = " ".join(text.split())
    for part in parts.values():
        assert " ".join(part.split()) in flat


def test_parse_doc_reports_missing_parts():
    parts = parse_doc("Does a thing.\n\nSource: somewhere.\nCauses: a mistake\n  over two lines.\n")
    assert parts == {"statement": "Does a thing.", "source": "somewhere.", "causes": "a mistake over two lines.", "fix": ""}


def test_a_weight_is_never_mapped_onto_a_bias():
    """At C = 1 a canonical fc2.weight has the element count of fc1.bias: registration order must refuse."""

    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(1, 1)  # weight [1, 1], bias [1]

    subject = Subject(SPEC, SPEC.block("se"), Adapter("x", {}))
    state = {"fc1.weight": torch.ones(1, 1), "fc2.weight": torch.ones(1, 1)}
    with pytest.raises(ClauseFailure, match=r"fc2.weight -> fc1.bias \(a weight onto a bias"):
        transfer(subject, Biased(), state)


def test_a_mismatch_shows_the_digits_that_differ_and_the_difference():
    """0.0002061441681 vs 0.0002061441681 said nothing: the values carry as many digits as tell them apart."""
    import torch

    from conformance.subject import ClauseFailure, assert_within

    expected = torch.tensor([0.0002061441681234567], dtype=torch.float64)
    found = expected + 2e-19
    with pytest.raises(ClauseFailure) as failure:
        assert_within(found, expected, 7.09e-22, "output")
    message = str(failure.value)
    found_text, expected_text = message.split("found ")[1].split(",")[0], message.split("expected ")[1].split(" ")[0]
    assert found_text != expected_text and float(found_text) == found.item() and float(expected_text) == expected.item()
    assert "difference 2e-19" in message or "difference 1.9" in message or "difference 2.1" in message, message
