"""``attncert stat``: the documents' torchstat tables, reproduced and cross-checked; the command
says which extra to install when its packages are missing."""

from __future__ import annotations

import dataclasses
import io
from types import MappingProxyType

import pytest
import torch
from torch import nn

from conftest import CORPUS, ROOT, overlong_lines, run_cli, run_python
from conformance import spec as spec_module
from conformance import torchstat_tables
from conformance.spec import load_spec
from conformance.torchstat_tables import build_tables, main_stat, parse_chw


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def documented():
    """The tables at the documents' input [32, 16, 16], by block name."""
    return {t.block: t for t in build_tables((32, 16, 16))}


DOCUMENTED = [name for name, block in load_spec().blocks.items() if block.figures is not None]


def test_every_block_of_the_spec_in_spec_order(documented, spec):
    assert list(documented) == list(spec.blocks)
    assert [t.block for t in build_tables((8, 4, 4))] == list(spec.blocks)
    assert {"se", "eca", "cbam"} <= set(DOCUMENTED)


def test_blocks_without_figures_are_not_compared(documented, spec):
    for name, table in documented.items():
        assert (table.documented is None) == (spec.block(name).figures is None)


# ---------------------------------------------------------------- the documents' figures
@pytest.mark.parametrize("name", DOCUMENTED)
def test_totals_equal_the_spec_figures(documented, spec, name):
    table, figures = documented[name], spec.block(name).figures
    assert tuple(figures["input"]) == (32, 16, 16)
    for field in ("params", "madd", "flops", "memrw"):
        assert getattr(table.totals, field) == figures["totals"][field], field
    assert table.documented is not None
    assert table.doc_total_mismatches == ()
    assert table.matches_documents is True
    assert table.ok


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_row_equals_the_spec_figures(documented, spec, name):
    table, layers = documented[name], spec.block(name).figures["layers"]
    assert [r.name for r in table.rows] == [layer["name"] for layer in layers]  # names and order
    for row, layer in zip(table.rows, layers):
        for field in ("params", "madd", "flops", "memread", "memwrite"):
            assert getattr(row, field) == layer[field], (row.name, field)
        assert row.doc_mismatches == ()
        assert row.matches_documents is True
    assert table.doc_row_problems == ()


def test_se_literal_figures(documented):
    se = documented["se"]
    assert (se.totals.params, se.totals.madd, se.totals.flops, se.totals.memrw) == (512, 992, 520, 2432)
    rows = [(r.name, r.input_shape, r.output_shape, r.params, r.madd, r.flops, r.memread, r.memwrite, r.memrw)
            for r in se.rows]
    assert rows == [
        ("avg_pool", (32, 16, 16), (32, 1, 1), 0, 0, 0, 0, 0, 0),
        ("fc1", (32,), (8,), 256, 504, 256, 1152, 32, 1184),
        ("relu", (8,), (8,), 0, 8, 8, 32, 32, 64),
        ("fc2", (8,), (32,), 256, 480, 256, 1056, 128, 1184),
        ("sigmoid", (32,), (32,), 0, 0, 0, 0, 0, 0),
    ]


def test_eca_literal_figures(documented):
    eca = documented["eca"]
    assert (eca.totals.params, eca.totals.madd, eca.totals.flops, eca.totals.memrw) == (3, 0, 0, 0)
    conv = eca.row("conv")
    assert (conv.kind, conv.params, conv.madd, conv.flops) == ("Conv1d", 3, 0, 0)
    assert conv.input_shape == (1, 32) and conv.output_shape == (1, 32)
    assert conv.counted is False  # torchstat has no Conv1d formulas


def test_cbam_literal_figures(documented):
    cbam = documented["cbam"]
    t = cbam.totals
    assert (t.params, t.madd, t.flops, t.memrw) == (610, 50_912, 25_608, 5_896)
    conv = cbam.row("spatial_attention.conv")
    assert (conv.params, conv.madd, conv.flops, conv.memread, conv.memwrite, conv.memrw) == (
        98, 49_920, 25_088, 2_440, 1_024, 3_464)
    assert conv.input_shape == (2, 16, 16) and conv.output_shape == (1, 16, 16)
    assert [r.name for r in cbam.rows] == [
        "channel_attention.max_pool", "channel_attention.avg_pool", "channel_attention.fc1",
        "channel_attention.fc2", "channel_attention.relu", "channel_attention.sigmoid",
        "spatial_attention.conv", "spatial_attention.sigmoid",
    ]


def test_totals_are_real_sums_not_torchstats_last_row(documented):
    se, cbam = documented["se"], documented["cbam"]
    assert (se.totals.memread, se.totals.memwrite) == (2240, 192)
    assert (cbam.totals.memread, cbam.totals.memwrite) == (4680, 1216)
    # torchstat's own total row: MemRead/MemWrite of the last row (sigmoid, unmeasured) -- the documents' 0.0
    for table in (se, documented["eca"], cbam):
        assert (table.torchstat_totals.memread, table.torchstat_totals.memwrite) == (0, 0)
        assert table.torchstat_totals.memrw == table.totals.memrw
        assert table.totals.memrw == table.totals.memread + table.totals.memwrite


# ---------------------------------------------------------------- FlopCounterMode cross-check
def test_flop_counter_values(documented):
    se, eca, cbam = documented["se"], documented["eca"], documented["cbam"]
    # SE: two matmuls [1,32]x[32,8] and [1,8]x[8,32] at 2 FLOPs per MAC
    assert se.flop_counter_total == 1024
    assert (se.row("fc1").flop_counter, se.row("fc2").flop_counter) == (512, 512)
    assert se.flop_counter_by_op == {"aten.mm": 1024}
    # ECA: the Conv1d torchstat misses: 2 * C * k = 2 * 32 * 3
    assert eca.flop_counter_total == 192 == eca.row("conv").flop_counter
    assert eca.flop_counter_by_op == {"aten.convolution": 192}
    # CBAM: the shared MLP runs twice (max and avg pooled), the 7x7 conv once: 2 * 98 * 256
    assert cbam.row("channel_attention.fc1").calls == 2
    assert cbam.row("channel_attention.fc1").flop_counter == 1024
    assert cbam.row("channel_attention.fc2").flop_counter == 1024
    assert cbam.row("spatial_attention.conv").flop_counter == 50_176
    assert cbam.flop_counter_total == 52_224
    assert cbam.flop_counter_by_op == {"aten.mm": 2048, "aten.convolution": 50_176}


def test_flop_counter_is_twice_torchstat_flops_per_call(documented):
    for table in documented.values():
        assert table.flop_counter_ok
        assert table.flop_counter_total == sum(r.flop_counter for r in table.rows) == table.totals.flop_counter
        for row in table.rows:
            if row.kind in ("Linear", "Conv2d"):
                assert row.flop_counter_check is True
                if table.block in DOCUMENTED:  # the documents' layers have no bias: Flops are exactly MACs
                    assert row.flop_counter == 2 * row.flops * row.calls
            else:
                assert row.flop_counter_check is None
            if row.kind not in ("Linear", "Conv2d", "Conv1d"):
                assert row.flop_counter == 0  # elementwise ops are not counted by FlopCounterMode


# ---------------------------------------------------------------- other input sizes
@pytest.mark.parametrize("chw", [(64, 8, 8), (4, 1, 1), (100, 5, 3), (512, 7, 7)])
def test_other_inputs_match_the_spec_formulas(spec, chw):
    c, h, w = chw
    tables = {t.block: t for t in build_tables(chw)}
    for table in tables.values():
        block = spec.block(table.block)
        env = block.env(dict(table.kwargs))
        assert table.kwargs.get("in_channel", c) == c
        assert table.totals.params == block.expected_param_count(env) == table.spec_param_count
        assert table.documented is None and table.matches_documents is None
        assert table.ok
    se, eca, cbam = tables["se"], tables["eca"], tables["cbam"]
    hidden = c // 4
    assert se.row("fc1").madd == hidden * (2 * c - 1)
    assert se.row("fc1").flop_counter == 2 * c * hidden
    k = spec.block("eca").env({"in_channel": c})["kernel_size"]
    assert k % 2 == 1 and eca.row("conv").params == k
    assert eca.row("conv").flop_counter == 2 * c * k
    conv = cbam.row("spatial_attention.conv")
    assert conv.madd == (2 * 2 * 49 - 1) * h * w
    assert conv.flops == 2 * 49 * h * w
    assert conv.flop_counter == 2 * 2 * 49 * h * w


def test_64_8_8_literal_params(spec):
    se, eca, cbam = build_tables((64, 8, 8), ["se", "eca", "cbam"])
    assert (se.totals.params, eca.totals.params, cbam.totals.params) == (2048, 3, 2146)
    for table in (se, eca, cbam):
        block = spec.block(table.block)
        assert table.totals.params == block.expected_param_count(block.env({"in_channel": 64}))


@pytest.mark.parametrize("bad", [(3, 8, 8), (0, 8, 8), (32, 16), (32, 0, 16), (32.0, 16, 16)])
def test_bad_inputs_raise(bad):
    with pytest.raises(ValueError):
        build_tables(bad)


def test_parse_chw():
    assert parse_chw("32,16,16") == (32, 16, 16)
    assert parse_chw(" 64, 8 ,8 ") == (64, 8, 8)
    assert parse_chw("[32, 16, 16]") == (32, 16, 16)
    for bad in ("32,16", "a,b,c", "32,16,16,1", "32,-1,16"):
        with pytest.raises(ValueError):
            parse_chw(bad)


# ---------------------------------------------------------------- side effects
def test_no_torchstat_noise_and_no_leftover_hooks(capsys):
    state = torch.random.get_rng_state()
    build_tables((16, 4, 4))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    for cls in (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.Sigmoid, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        assert "__call__" not in cls.__dict__, cls  # torchstat's ModelHook patch was undone
    assert torch.equal(state, torch.random.get_rng_state())
    layer = nn.Linear(3, 2)
    assert layer(torch.zeros(1, 3)).shape == (1, 2)
    assert not hasattr(layer, "MAdd")


def test_import_is_cheap():
    code = ("import sys, conformance.torchstat_tables; "
            "print(any(m in sys.modules for m in ('torch', 'torchstat', 'pandas', 'rich')))")
    result = run_python(code, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert result.stderr == ""


# ---------------------------------------------------------------- main_stat
def test_main_stat_default_output():
    out = io.StringIO()
    assert main_stat(out=out) == 0
    text = out.getvalue()
    # both workarounds, the Conv1d gap and the FlopCounterMode convention are explained
    assert "DataFrame.append" in text and "pandas" in text and "_analyze_model()" in text
    assert "MemRead(B) and MemWrite(B) from the last row only" in text and "real column sums" in text
    assert "Conv1d" in text and "0 MAdd, 0 Flops" in text
    assert "FlopCounterMode" in text and "2 FLOPs per multiply-accumulate" in text
    for field in ("fc1 (Linear): 32 -> 8, params 256, calls 1; documents: ✓", "MAdd 504, Flops 256, MemRead 1,152 B",
                  "MemWrite 32 B", "MemR+W 2,432 B", "FlopCounter 512 ✓"):
        assert field in text, field
    for figure in ("50,912", "25,608", "5,896", "49,920", "25,088", "52,224", "2,432"):
        assert figure in text
    assert "✓ every figure equals the documents'" in text
    assert "✗" not in text
    assert "[32,16,16]" in text


def test_main_stat_other_input():
    out = io.StringIO()
    assert main_stat((64, 8, 8), out=out) == 0
    text = out.getvalue()
    assert "[64,8,8]" in text
    assert "only the parameter counts are checked" in " ".join(text.split())
    assert "params 2,048 vs the spec's param_count formula 2,048" in text
    assert "DataFrame.append" in text


def test_main_stat_ascii_output():
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    assert main_stat(out=out) == 0
    out.flush()
    assert "every figure equals the documents'" in raw.getvalue().decode("ascii")


@pytest.mark.parametrize("bad", [(3, 8, 8), (32, 16)])
def test_main_stat_bad_input(bad):
    out = io.StringIO()
    assert main_stat(bad, out=out) == 2
    assert out.getvalue().startswith("attncert stat: error:")


def test_main_stat_reports_a_mismatch(monkeypatch):
    real = load_spec()
    se = real.block("se")
    figures = dict(se.figures)
    figures["totals"] = {**figures["totals"], "madd": 993}
    layers = [dict(layer) for layer in figures["layers"]]
    layers[1]["memread"] = 1000
    figures["layers"] = layers
    blocks = dict(real.blocks)
    blocks["se"] = dataclasses.replace(se, figures=MappingProxyType(figures))
    fake = dataclasses.replace(real, blocks=MappingProxyType(blocks))
    monkeypatch.setattr(spec_module, "load_spec", lambda path=None: fake)

    tables = torchstat_tables.build_tables((32, 16, 16))
    assert tables[0].doc_total_mismatches == ("madd",)
    assert tables[0].row("fc1").doc_mismatches == ("memread",)
    assert tables[0].matches_documents is False and not tables[0].ok
    assert tables[1].ok and tables[2].ok

    out = io.StringIO()
    assert main_stat(out=out) == 1
    text = out.getvalue()
    assert "total madd: 992 here, 993 in the documents" in text
    assert "✗ memread 1,000" in text
    assert "some figures differ from the documents'" in text


# ---------------------------------------------------------------- without the stat extra
@pytest.mark.parametrize("missing", [("pandas",), ("torchstat",), ("pandas", "torchstat")])
def test_without_its_packages_stat_is_a_usage_error_naming_the_extra(tmp_path, missing):
    """`attncert stat` where pandas or torchstat is not installed: exit 2 and how to install them."""
    done = run_cli("stat", cwd=tmp_path, missing=missing)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'pip install "attncert[stat]"' in done.stderr
    assert all(name in done.stderr for name in missing), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


# ---------------------------------------------------------------- any target, at the terminal's width
@pytest.mark.parametrize("target, compared", [("reference", True), ("tutorial", True),
                                              (str(CORPUS / "correct" / "conv1x1.py"), False)])
def test_stat_tabulates_any_target_and_compares_the_documents_for_theirs(target, compared):
    out = io.StringIO()
    assert main_stat(out=out, target=target) == 0
    text = out.getvalue()
    assert ("every figure equals the documents'" in text) is compared
    assert "SE — Squeeze-and-Excitation" in text and "params 512 vs the spec's param_count formula 512: ✓" in text
    assert not overlong_lines(text), overlong_lines(text)


def test_stat_of_a_target_without_blocks_is_an_error(tmp_path):
    (tmp_path / "empty.py").write_text("x = 1\n")
    out = io.StringIO()
    assert main_stat(out=out, target=str(tmp_path / "empty.py")) == 2
    assert "provides none of the blocks" in out.getvalue()


# ---------------------------------------------------------------- blocks whose defaults do not fit the input
def test_a_default_that_does_not_fit_the_input_moves_to_the_nearest_value_that_does(documented):
    """Shuffle Attention's 64 groups need C >= 128 and SGE's 64 need 64 | C: at C = 32 they tabulate
    with 16 and 32 groups and say so; a default that fits stays (Selective Kernel's G = 32 at C = 32)."""
    sa, sge, sk = documented["shuffle_attention"], documented["sge"], documented["selective_kernel"]
    assert dict(sa.kwargs) == {"in_channel": 32, "groups": 16} and dict(sge.kwargs) == {"groups": 32}
    assert "groups=64 (the default) does not fit" in sa.notes[0] and "groups=16 is the nearest value" in sa.notes[0]
    assert dict(sk.kwargs) == {"in_channel": 32, "M": 2, "G": 32, "r": 16, "L": 32}
    assert not any("does not fit" in note for note in sk.notes)
    assert sa.ok and sge.ok and sk.ok


def test_parameters_a_block_holds_itself_get_a_row(documented):
    """torchstat measures leaves only: SGE's weight and bias, Shuffle Attention's four gate tensors
    are the blocks' own parameters, counted in a row of their own so the totals are the spec's."""
    sge, sa = documented["sge"], documented["shuffle_attention"]
    assert sge.row("(parameters)").params == 2 * 32 and sge.totals.params == sge.spec_param_count == 64
    assert sa.row("(parameters)").params == 4 and sa.row("gn").params == 2 and sa.totals.params == 6
    assert sge.row("(parameters)").flop_counter_check is None


def test_linear_layers_with_a_bias_pass_the_flop_counter_check(documented):
    """torchstat counts a Conv2d's bias as one flop per output but not a Linear's (BAM has both)."""
    bam = documented["bam"]
    assert bam.row("channel_att.gate_c.gate_c_fc_0").flop_counter_check is True
    assert bam.row("spatial_att.gate_s.gate_s_conv_reduce0").flop_counter_check is True
    assert bam.ok and bam.flop_counter_ok
