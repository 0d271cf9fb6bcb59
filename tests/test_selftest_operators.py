"""The selftest's mutation operators (``conformance.selftest.OPERATORS``) on the bundled reference.

Each operator's sites on impl/reference.py are data here: how many mutants it makes and one of
them, before -> after, so a change to an operator or to the reference shows up as a change of this
table. Sites are found by what the code does, not by how the reference spells it: a copy with
other import spellings and another constructor parameter name has the same sites. Registering an
operator checks its keywords: exactly the family's, none that would hide the base's attributes.
"""

import re
from collections import Counter

import pytest

from conformance.selftest import OPERATORS, REFERENCE, generate
from conformance.selftest.mutator import Mutator, register

# operator -> (mutants on impl/reference.py, one mutant's id, its code before, after)
SITES = {
    "sigmoid_hardsigmoid": (11, "sigmoid_hardsigmoid-SqueezeExcitation-1", "nn.Sigmoid()", "nn.Hardsigmoid()"),
    "sigmoid_tanh": (11, "sigmoid_tanh-SimAM-1", "torch.sigmoid(distance / (4 * (variance + self.e_lambda)) + 0.5)",
                     "torch.tanh(distance / (4 * (variance + self.e_lambda)) + 0.5)"),
    "sigmoid_identity": (11, "sigmoid_identity-CoordinateAttention-2", "self.conv_h(per_row).sigmoid()", "self.conv_h(per_row)"),
    "relu_identity": (8, "relu_identity-SqueezeExcitation-1", "nn.ReLU()", "nn.Identity()"),
    "relu_leakyrelu": (8, "relu_leakyrelu-ChannelAttention-1", "nn.ReLU()", "nn.LeakyReLU()"),
    "relu_gelu": (8, "relu_gelu-SqueezeExcitation-1", "nn.ReLU()", "nn.GELU()"),
    "softmax_swap": (4, "softmax_swap-_SelectPaths-1", "logits.reshape(logits.shape[0], self.paths, -1, 1, 1).softmax(dim=1)",
                     "torch.sigmoid(logits.reshape(logits.shape[0], self.paths, -1, 1, 1))"),
    "hswish_swap": (3, "hswish_swap-CoordinateAttention-1", "nn.Hardswish()", "nn.SiLU()"),
    "hswish_constant": (6, "hswish_constant-CoordinateAttention-1", "self.act(self.bn1(self.conv1(strip)))",
                        "(lambda t: t * (t + 2).clamp(0, 6) / 6)(self.bn1(self.conv1(strip)))"),
    "gate_float32": (12, "gate_float32-EfficientChannelAttention-1", "self.sigmoid(self.conv(squeezed))",
                     "self.sigmoid(self.conv(squeezed)).float()"),
    "gate_float16": (12, "gate_float16-SpatialAttention-1", "self.sigmoid(self.conv(pooled))", "self.sigmoid(self.conv(pooled)).half()"),
    "gate_bfloat16": (12, "gate_bfloat16-CoordinateAttention-2", "self.conv_h(per_row).sigmoid()",
                      "self.conv_h(per_row).sigmoid().bfloat16()"),
    "detach_gate": (25, "detach_gate-SpatialAttention-1", "x.amax(dim=1, keepdim=True)", "x.amax(dim=1, keepdim=True).detach()"),
    "dropout": (12, "dropout-EfficientChannelAttention-1", "self.sigmoid(self.conv(squeezed))",
                "nn.functional.dropout(self.sigmoid(self.conv(squeezed)), 0.1, self.training)"),
    "const_shift": (274, "const_shift-eca_kernel_size-1", "2", "3"),
    "param_shift": (110, "param_shift-EfficientChannelAttention-3", "gamma", "(gamma + 1)"),
    "trunc_round": (34, "trunc_round-eca_kernel_size-1", "int(abs((math.log2(in_channel) + b) / gamma))",
                    "round(abs((math.log2(in_channel) + b) / gamma))"),
    "odd_removed": (3, "odd_removed-eca_kernel_size-1", "t if t % 2 else t + 1", "t"),
    "log_base": (3, "log_base-eca_kernel_size-2", "math.log2(in_channel)", "math.log10(in_channel)"),
    "norm_statistics": (8, "norm_statistics-ShuffleAttention-1", "nn.GroupNorm(half, half)", "nn.GroupNorm(1, half)"),
    "pool_swap": (15, "pool_swap-ChannelAttention-1", "nn.AdaptiveMaxPool2d(1)", "nn.AdaptiveAvgPool2d(1)"),
    "pool_axes": (20, "pool_axes-SimAM-1", "x.mean(dim=(2, 3), keepdim=True)", "x.mean(dim=3, keepdim=True)"),
    "batch_stats": (19, "batch_stats-SpatialAttention-2", "x.mean(dim=1, keepdim=True)", "x.mean(dim=(0, 1), keepdim=True)"),
    "view_on_input": (11, "view_on_input-SqueezeExcitation-1", "self.avg_pool(x)",
                      "x.view(x.shape[0], x.shape[1], -1).mean(-1)[:, :, None, None]"),
    "drop_branch": (14, "drop_branch-CBAM-1", "self.spatial_attention(self.channel_attention(x))", "self.channel_attention(x)"),
    "cat_order": (4, "cat_order-SpatialAttention-1", "torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)",
                  "torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)"),
    "stage_order": (1, "stage_order-CBAM-1", "self.spatial_attention(self.channel_attention(x))",
                    "self.channel_attention(self.spatial_attention(x))"),
    "combine_swap": (4, "combine_swap-BAM-1", "self.channel_att(x) * self.spatial_att(x)", "self.channel_att(x) + self.spatial_att(x)"),
    "shuffle_inverse": (1, "shuffle_inverse-ShuffleAttention-1",
                        "torch.cat([first, second], dim=1).reshape(b, 2, c // 2, h, w).transpose(1, 2)",
                        "torch.cat([first, second], dim=1).reshape(b, c // 2, 2, h, w).transpose(1, 2)"),
    "residual": (19, "residual-SqueezeExcitation-1", "return x * gate[:, :, None, None]", "return x + x * gate[:, :, None, None]"),
    "inplace_input": (9, "inplace_input-SimAM-1", "(x - x.mean(dim=(2, 3), keepdim=True))", "(x.sub_(x.mean(dim=(2, 3), keepdim=True)))"),
    "bias_toggle": (21, "bias_toggle-SqueezeExcitation-1", "nn.Linear(in_channel, in_channel // ratio, bias=False)",
                    "nn.Linear(in_channel, in_channel // ratio, bias=True)"),
    "weight_transpose": (11, "weight_transpose-SqueezeExcitation-1", "self.fc1(squeezed)",
                         "nn.functional.linear(squeezed, self.fc1.weight.t(), self.fc1.bias)"),
    "weight_swap": (6, "weight_swap-CoordinateAttention-3", "class CoordinateAttention", "self.conv_h and self.conv_w swapped in forward"),
    "registration_order": (13, "registration_order-CBAM-1", "CBAM.__init__",
                           "self.spatial_attention registered before self.channel_attention"),
}


@pytest.fixture(scope="module")
def generated():
    """Every mutant of the reference, by operator (sources are built on first use)."""
    by_operator: dict[str, list] = {}
    for mutant in generate():
        by_operator.setdefault(mutant.operator, []).append(mutant)
    return by_operator


def test_the_table_lists_every_operator():
    assert sorted(SITES) == sorted(OPERATORS)


@pytest.mark.parametrize("name", list(SITES))
def test_operator_sites_on_the_reference(generated, name):
    count, example, before, after = SITES[name]
    mutants = generated.get(name, [])
    assert len(mutants) == count, [m.id for m in mutants]
    mutant = next((m for m in mutants if m.id == example), None)
    assert mutant is not None, f"no mutant {example}: {[m.id for m in mutants]}"
    assert mutant.description.startswith(OPERATORS[name].description + ": in ")
    assert mutant.description.endswith(f"`{before}` -> `{after}`"), mutant.description
    compile(mutant.source, f"{mutant.id}.py", "exec")


def renamed(reference: str) -> str:
    """The reference spelled otherwise, the same code: ``import torch.nn as tnn`` for ``from torch import
    nn``, ``from math import log2`` for ``import math``, and the classes' constructor parameter
    ``in_channel`` called ``channels`` (the factories' keyword stays ``in_channel``)."""
    for line in ("from torch import nn\n", "import math\n"):
        assert reference.count(line) == 1, line
    text = reference.replace("from torch import nn\n", "import torch.nn as tnn\n")
    text = re.sub(r"(?<![\w.])nn\.", "tnn.", text)
    text = text.replace("import math\n", "from math import log2\n").replace("math.log2(", "log2(")
    lines, in_class = [], False
    for line in text.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():  # a top-level statement: a class, a function, an import
            in_class = line.startswith("class ")
        lines.append(re.sub(r"\bin_channel\b", "channels", line) if in_class else line)
    return "".join(lines)


def test_a_renamed_reference_keeps_every_site(generated, tmp_path):
    text = renamed(REFERENCE.read_text(encoding="utf-8"))
    assert re.search(r"(?<![\w.])(nn|math)\.", text) is None and "def __init__(self, channels: int" in text
    assert "def se(*, in_channel" in text and "return SqueezeExcitation(in_channel, ratio)" in text
    path = tmp_path / "renamed_reference.py"
    path.write_text(text)
    compile(text, str(path), "exec")
    mutants = generate(path)
    assert Counter(m.operator for m in mutants) == {name: len(found) for name, found in generated.items()}
    for mutant in mutants:
        compile(mutant.source, f"{mutant.id}.py", "exec")


# ---------------------------------------------------------------- registration
@pytest.fixture
def registry():
    """OPERATORS as it was, after the test."""
    before = dict(OPERATORS)
    yield OPERATORS
    for name in set(OPERATORS) - set(before):
        del OPERATORS[name]
    assert OPERATORS == before


class Throwaway(Mutator):
    """A family for these tests: takes one keyword, finds no site."""

    keywords = ("replacement",)


class Shadowing(Mutator):
    """A family whose keyword would hide Mutator.method (where the walk is)."""

    keywords = ("method",)


def test_registration_takes_exactly_the_familys_keywords(registry):
    name = "test-throwaway-operator"
    with pytest.raises(TypeError, match=r"takes the keywords \['replacement'\], got \[\]"):
        register(name, "nothing", Throwaway)
    with pytest.raises(TypeError, match=r"got \['extra', 'replacement'\]"):
        register(name, "nothing", Throwaway, replacement="x", extra=1)
    assert name not in registry
    register(name, "nothing", Throwaway, replacement="x")
    assert registry[name].keywords == {"replacement": "x"} and registry[name].family is Throwaway
    with pytest.raises(ValueError, match="registered twice"):
        register(name, "nothing", Throwaway, replacement="y")


def test_a_keyword_that_shadows_a_mutator_attribute_is_refused(registry):
    assert "method" in dir(Mutator)
    with pytest.raises(TypeError, match=r"Shadowing's keywords \['method'\] would hide attributes of Mutator"):
        register("test-shadowing-operator", "nothing", Shadowing, method="forward")
    assert "test-shadowing-operator" not in registry
