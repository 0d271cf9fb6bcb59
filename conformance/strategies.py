"""Every Hypothesis strategy of attncert, in one place, driven by the spec's parameter records.

Draws are labelled so a failure says which value was which. Defaults are drawn often, so the
documents' own setting is always exercised; the channel count is drawn last, from the edges that
matter for the other drawn parameters (C = ratio, C not a multiple of ratio, C = 1, primes, powers
of two and their neighbours, where the ECA kernel changes for integer b and gamma, a few large ones).
The input's magnitude and the weights' are dimensions of their own, and so is the kind of values
(normal, post-ReLU sparse, quantized with ties), so gates saturate and ReLUs switch off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from typing import Any, Mapping

from hypothesis import assume, settings, strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from .cases import Case
from .expr import Expr, ExprError
from .options import Profile
from .spec import BlockSpec, Param, RuntimeSpec

PRIMES = (2, 3, 5, 7, 11, 13, 17, 31, 61, 97, 127, 251, 509, 1021, 2039)


def hypothesis_settings(profile: Profile, database_dir: str | None, max_examples: int | None = None) -> settings:
    from hypothesis import HealthCheck, Phase, Verbosity

    return settings(
        max_examples=max_examples or profile.max_examples,
        deadline=None,  # the worker pool enforces a per-clause timeout in the parent process
        database=DirectoryBasedExampleDatabase(database_dir) if database_dir else None,
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        print_blob=False,
    )


# Strategies are built once per parameter and reused: Hypothesis validates every new strategy
# object, which would otherwise dominate the cost of a draw.
@functools.lru_cache(maxsize=None)
def small_int(param: Param, profile: Profile) -> st.SearchStrategy[int]:
    """A parameter other than the channel count: its default half the time, else a nearby valid value."""
    low = param.minimum
    high = param.maximum if param.maximum is not None else max(low, (param.default or low) + profile.max_param_span)
    values = st.integers(low, high)
    if param.odd:
        values = st.integers((low - 1) // 2, (high - 1) // 2).map(lambda n: 2 * n + 1).filter(lambda n: low <= n <= high)
    bounds = st.sampled_from(sorted({low, high}))
    if param.default is None:
        return st.one_of(values, bounds)
    return st.one_of(st.just(param.default), bounds, values)


@functools.lru_cache(maxsize=None)
def small_float(param: Param) -> st.SearchStrategy[float]:
    """A real parameter (SimAM's lambda): its default half the time, else powers of two across its range."""
    low = float(param.minimum)
    high = float(param.maximum if param.maximum is not None else max(1.0, 1024 * low))
    if low > 0:
        values = st.integers(math.ceil(math.log2(low)), math.floor(math.log2(high))).map(lambda e: 2.0**e)
    else:
        values = st.floats(low, high, allow_nan=False, allow_infinity=False)
    bounds = st.sampled_from(sorted({low, high}))
    if param.default is None:
        return st.one_of(values, bounds)
    return st.one_of(st.just(float(param.default)), bounds, values)


@functools.lru_cache(maxsize=None)
def choice(values: tuple) -> st.SearchStrategy:
    return st.sampled_from(values)


@functools.lru_cache(maxsize=None)
def size(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


@functools.lru_cache(maxsize=None)
def channels_strategy(ratio: int | None, upper: int) -> st.SearchStrategy[int]:
    """Any small count, the edges for the drawn ratio, or a log-uniform size up to ``upper``."""
    return st.one_of(size(1, min(64, upper)), channel_edges(ratio, upper), log_uniform(upper))


@functools.lru_cache(maxsize=512)
def channel_edges(ratio: int | None, max_channels: int) -> st.SearchStrategy[int]:
    """Channel counts where implementations tend to break, for the already drawn ratio."""
    edges = {1, 2, 3, *PRIMES}
    power = 1
    while power <= max_channels:
        edges.update({power - 1, power, power + 1})
        power *= 2
    if ratio:
        edges.update({ratio, ratio + 1, 2 * ratio - 1, 2 * ratio + 1, 3 * ratio})
    return st.sampled_from(sorted(c for c in edges if 1 <= c <= max_channels))


@functools.lru_cache(maxsize=None)
def log_uniform(upper: int) -> st.SearchStrategy[int]:
    """1..upper with every power-of-two range equally likely (large sizes are rare and costly)."""
    top = max(upper.bit_length() - 1, 0)
    return st.integers(0, top).flatmap(lambda e: st.integers(2**e, min(2 ** (e + 1) - 1, upper)))


# A magnitude: 1 half the time, else 2^-10 .. 2^10: tiny values leave gates at 1/2 and ReLUs near
# their kink, large ones saturate the sigmoids (gates exactly 0 or 1) and switch ReLUs off.
SCALE_EXPONENTS = 10
scales = st.one_of(st.just(0), st.integers(-SCALE_EXPONENTS, SCALE_EXPONENTS)).map(lambda e: 2.0**e)


def cases(
    block: BlockSpec,
    profile: Profile,
    clause,
    dtypes: tuple[str, ...],
    variant: Mapping[str, Any] | None = None,
    domain: Expr | None = None,
    runtime: RuntimeSpec | None = None,
) -> st.SearchStrategy[Case]:
    """Constructor keywords in the block's (declared) domain, an input shape, dtype, layout, values,
    magnitudes and a data seed, within what ``clause`` (a ``clauses.Clause``) draws.

    Under a deployed ``runtime`` the constructor setting, channels and weights come from a few
    ``deployment_settings`` (an artifact is built per setting and weights, at a cost of seconds),
    and the search varies what the artifact must handle: batch, height, width, layout, values.
    """
    if runtime is not None and runtime.name != "eager":
        return _deployed_cases(block, profile, clause, dtypes, variant, domain, runtime)

    has_channels = any(p.name == "in_channel" for p in block.params)
    channels_upper = min(profile.max_channels if has_channels else 64, clause.max_channels or profile.max_channels)
    # A declared domain's `name in (...)`: drawn from those values, not drawn at large and rejected
    # (which made a narrow domain many times slower).
    declared = {param.name: choice(values) for param in block.params
                if (values := declared_values(param, domain, channels_upper if param.name == "in_channel" else None))}

    # A composite without arguments: Hypothesis pretty-prints a strategy's arguments into a note
    # on every rejected draw, and printing a BlockSpec costs milliseconds.
    @st.composite
    def draw_case(draw) -> Case:
        kwargs: dict[str, Any] = {}
        for param in block.params:
            if param.name != "in_channel":
                strategy = declared[param.name] if param.name in declared else (
                    small_float(param) if param.type == "float" else small_int(param, profile))
                kwargs[param.name] = draw(strategy, label=param.name)
        if "in_channel" in declared:
            channels = draw(declared["in_channel"], label="in_channel")
        else:
            step = channel_step(block, kwargs, variant, domain)
            upper = channels_upper if has_channels else max(channels_upper, step)  # at least one multiple
            if step > upper:
                assume(False)
            if step > 1:  # a multiple of what the domain asks for: the edges of the multiplier
                channels = step * draw(channels_strategy(None, upper // step), label="channel_multiple")
            else:
                channels = draw(channels_strategy(_divisor_hint(kwargs.get("ratio")), upper),
                                label="in_channel" if has_channels else "channels")
        if has_channels:
            kwargs = {"in_channel": channels, **kwargs}
        assume(block.domain_violation(kwargs) is None)
        if domain is not None:
            assume(bool(domain.evaluate(block.env(kwargs, variant))))
        assume(block.expected_param_count(block.env(kwargs, variant)) <= profile.max_params)
        budget = clause.max_numel or profile.max_numel
        batch = draw(size(clause.min_batch, profile.max_batch), label="batch")
        side_cap = max(1, min(profile.max_side, math.isqrt(max(1, budget // (batch * channels)))))
        height = draw(size(1, side_cap), label="height")
        width = draw(size(1, side_cap), label="width")
        assume(batch * channels * height * width <= max(budget, batch * channels))
        assume(block.input_violation(block.env(kwargs, variant), (batch, channels, height, width)) is None)
        dtype = draw(choice(dtypes), label="dtype")
        layout = draw(choice(clause.layouts), label="memory_format")
        values = draw(choice(clause.values), label="values")
        input_scale = draw(scales, label="input_scale") if clause.scaled else 1.0
        weight_scale = draw(scales, label="weight_scale") if clause.scaled else 1.0
        seed = draw(size(0, 2**31 - 1), label="seed")
        return Case(kwargs, (batch, channels, height, width), dtype, layout, seed, input_scale, weight_scale, values)

    return draw_case()


def _divisor_hint(ratio) -> int | None:
    """The channel counts where a reduction ``ratio`` makes edges: an integer divisor as it is, a
    float multiplier (Global Context's 1/16) by its inverse."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 0:
        return None
    return ratio if isinstance(ratio, int) else max(1, round(1 / ratio))


def channel_step(block: BlockSpec, kwargs: Mapping[str, Any], variant: Mapping[str, Any] | None = None,
                 domain: Expr | None = None) -> int:
    """What the channel count must be a multiple of at these keywords: the lcm of the ``e`` in the
    domain's ``in_channel % e == 0``, the input domain's ``C % e == 0`` and the declared domain's
    (1 when none applies). A formula that needs more than the keywords and variant options is left
    to the rejection that follows."""
    name = "in_channel" if any(p.name == "in_channel" for p in block.params) else "C"
    scope = {**kwargs, **block.check_variant(variant or {})}
    rules = [r.check for r in block.domain] + [r.check for r in block.input_domain] + ([domain] if domain is not None else [])
    step = 1
    for rule in rules:
        for factor in rule.multiples.get(name, ()):
            try:
                value = factor.evaluate(scope)
            except ExprError:
                continue
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                step = math.lcm(step, value)
    return step


def _fits(block: BlockSpec, setting: Mapping[str, Any], variant: Mapping[str, Any] | None,
          shape: tuple[int, int, int, int]) -> bool:
    """Whether the setting takes an input of this shape (the block's input domain)."""
    return block.input_violation(block.env(setting, variant), shape) is None


def deployment_settings(block: BlockSpec, variant: Mapping[str, Any] | None = None,
                        domain: Expr | None = None) -> list[tuple[dict[str, Any], int]]:
    """The (constructor keywords, channels) that a runtime's artifacts are built for: the minimal
    setting (the fewest channels) and an ordinary one (32 channels or more: blocks that reduce the
    channels by 16 by default have a bottleneck of one at 16, as in the minimal setting, where a
    normalisation over that one value leaves no case for the gradient checks)."""
    found: list[tuple[dict[str, Any], int]] = []
    for low in (1, ORDINARY_CHANNELS):
        for channels in range(low, MAX_DEFAULT_CHANNELS + 1):
            setting = _default_setting(block, channels, variant, domain)
            if setting is not None and _fits(block, setting, variant, (2, channels, 5, 7)):
                if (setting, channels) not in found:
                    found.append((setting, channels))
                break
    return found


MAX_DEFAULT_CHANNELS = 1024  # the explicit cases look this far for channels that the default setting allows
ORDINARY_CHANNELS = 32  # where a deployed block's ordinary setting starts
TYPICAL_CHANNELS = 16  # where an eager search's case of ordinary size starts


def tied_weight_seed(kwargs: Mapping[str, Any], channels: int) -> int:
    """The weights' seed of a deployed setting: the same for every case, so its artifact is built once."""
    text = json.dumps([sorted(kwargs.items()), channels])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _deployed_cases(block: BlockSpec, profile: Profile, clause, dtypes: tuple[str, ...],
                    variant: Mapping[str, Any] | None, domain: Expr | None, runtime: RuntimeSpec) -> st.SearchStrategy[Case]:
    settings = deployment_settings(block, variant, domain)

    @st.composite
    def draw_case(draw) -> Case:
        kwargs, channels = draw(choice(tuple((tuple(k.items()), c) for k, c in settings)), label="setting")
        kwargs = dict(kwargs)
        budget = clause.max_numel or profile.max_numel
        batch = draw(size(clause.min_batch, profile.max_batch), label="batch")
        # the artifact's channels are fixed: sides of 2 at least, so an input domain that needs two
        # positions (a standard deviation over H W) can be met whatever the clause's size cap
        side_cap = max(2, min(profile.max_side, math.isqrt(max(1, budget // (batch * channels)))))
        height = draw(size(1, side_cap), label="height")
        width = draw(size(1, side_cap), label="width")
        shape = (batch, channels, height, width)
        assume(block.input_violation(block.env(kwargs, variant), shape) is None)
        dtype = draw(choice(dtypes), label="dtype")
        assume(runtime.input_violation(shape, dtype) is None)
        layout = draw(choice(clause.layouts), label="memory_format")
        values = draw(choice(clause.values), label="values")
        input_scale = draw(scales, label="input_scale") if clause.scaled else 1.0
        seed = draw(size(0, 2**31 - 1), label="seed")
        return Case(kwargs, shape, dtype, layout, seed, input_scale, 1.0, values, weight_seed=tied_weight_seed(kwargs, channels))

    return draw_case()


def declared_values(param: Param, domain: Expr | None, upper: int | None = None) -> tuple:
    """The values a declared domain pins ``param`` to (``name in (a, b)``), of its type and in its range."""
    kind = float if param.type == "float" else int
    upper = upper if upper is not None else param.maximum
    return tuple(v for v in (domain.pinned.get(param.name, ()) if domain is not None else ())
                 if type(v) is kind and param.minimum <= v and (upper is None or v <= upper))


def _default_setting(block: BlockSpec, channels: int, variant: Mapping[str, Any] | None,
                     domain: Expr | None) -> dict[str, Any] | None:
    """The spec's defaults (a parameter without one at its minimum; one a declared domain pins
    elsewhere at its pinned value nearest the default) with ``channels`` channels, or None when that
    lies outside the block's (declared) domain."""
    setting: dict[str, Any] = {}
    for param in block.params:
        value = channels if param.name == "in_channel" else param.default if param.default is not None else param.minimum
        pinned = declared_values(param, domain) if param.name != "in_channel" else ()
        setting[param.name] = value if not pinned or value in pinned else min(pinned, key=lambda v: (abs(v - value), v))
    if block.domain_violation(setting) is None and (domain is None or domain.evaluate(block.env(setting, variant))):
        return setting
    return None


def minimal_case(block: BlockSpec, profile: Profile, clause, dtypes: tuple[str, ...],
                 variant: Mapping[str, Any] | None = None, domain: Expr | None = None) -> Case | None:
    """The case every search tries first: what the shrinker would end at (defaults, the fewest
    channels the domain and the input domain allow, a 1 x 1 input or the smallest the input domain
    takes, one sample or two, the first dtype, layout and values, unit scales).

    A failure there needs no shrinking, and every clause that fails for one root cause reports the
    same case. None when no such case lies within the channels the profile and the clause draw.
    """
    if not dtypes:
        return None
    batches = (clause.min_batch,) if clause.min_batch > 1 else (1, 2)  # two samples where batch statistics need them
    for channels in range(1, min(profile.max_channels, clause.max_channels or MAX_DEFAULT_CHANNELS) + 1):
        setting = _default_setting(block, channels, variant, domain)
        if setting is None:
            continue
        for batch in batches:
            for height, width in ((1, 1), (1, 2), (2, 2)):
                shape = (batch, channels, height, width)
                if _fits(block, setting, variant, shape):
                    return Case(setting, shape, dtypes[0], clause.layouts[0], 0, 1.0, 1.0, clause.values[0])
    return None


def typical_case(block: BlockSpec, clause, dtype: str, variant: Mapping[str, Any] | None = None,
                 domain: Expr | None = None, lowest: int = TYPICAL_CHANNELS) -> Case | None:
    """A case of ordinary size in ``dtype``: defaults, the fewest channels from ``lowest`` up that the
    domain allows, a 2 x C x 5 x 7 input (within the clause's limits). Tried for every dtype a clause
    draws, so each dtype meets a case whose gates are not degenerate (at the minimal case a single
    hidden unit may be off, and the gate is then exactly 1/2 in any precision). None when there is none."""
    batch, height, width = max(2, clause.min_batch), 5, 7
    for channels in range(lowest, (clause.max_channels or MAX_DEFAULT_CHANNELS) + 1):
        shape = (batch, channels, height, width)
        if clause.max_numel and batch * channels * height * width > clause.max_numel:
            return None
        setting = _default_setting(block, channels, variant, domain)
        if setting is not None and _fits(block, setting, variant, shape):
            return Case(setting, shape, dtype, clause.layouts[0], 1, 1.0, 1.0, clause.values[0])
    return None
