"""Every Hypothesis strategy of attncert, in one place, driven by the spec's parameter records.

Draws are labelled so a failure says which value was which. Defaults are drawn often, so the
documents' own setting is always exercised; the channel count is drawn last, from the edges that
matter for the other drawn parameters (C = ratio, C not a multiple of ratio, C = 1, primes, powers
of two and their neighbours, where the ECA kernel changes for integer b and gamma, a few large ones).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

from hypothesis import assume, settings, strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from .cases import DTYPES, LAYOUTS, Case
from .spec import BlockSpec, Param

PRIMES = (2, 3, 5, 7, 11, 13, 17, 31, 61, 97, 127, 251, 509, 1021, 2039)


@dataclass(frozen=True)
class Profile:
    """How hard to search: examples per clause and the largest sizes drawn."""

    name: str
    max_examples: int
    max_channels: int
    max_side: int
    max_batch: int
    max_numel: int
    max_param_span: int  # how far from the default a small integer parameter may wander


PROFILES = {
    "ci": Profile("ci", max_examples=12, max_channels=1024, max_side=12, max_batch=4, max_numel=40_000, max_param_span=8),
    "dev": Profile("dev", max_examples=60, max_channels=8192, max_side=24, max_batch=4, max_numel=200_000, max_param_span=16),
    "thorough": Profile("thorough", max_examples=300, max_channels=16384, max_side=40, max_batch=4, max_numel=1_000_000, max_param_span=32),
}


def hypothesis_settings(profile: Profile, database_dir: str | None, max_examples: int | None = None) -> settings:
    from hypothesis import HealthCheck, Phase, Verbosity

    return settings(
        max_examples=max_examples or profile.max_examples,
        deadline=None,  # the runner enforces a per-clause timeout in the parent process
        database=DirectoryBasedExampleDatabase(database_dir) if database_dir else None,
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        print_blob=False,
    )


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


def log_uniform(upper: int) -> st.SearchStrategy[int]:
    """1..upper with every power-of-two range equally likely (large sizes are rare and costly)."""
    top = max(upper.bit_length() - 1, 0)
    return st.integers(0, top).flatmap(lambda e: st.integers(2**e, min(2 ** (e + 1) - 1, upper)))


@st.composite
def cases(
    draw,
    block: BlockSpec,
    profile: Profile,
    dtypes: tuple[str, ...] = DTYPES,
    layouts: tuple[str, ...] = LAYOUTS,
    max_numel: int | None = None,
    min_batch: int = 1,
    max_channels: int | None = None,
    variant: Mapping[str, Any] | None = None,
) -> Case:
    """Constructor keywords in the block's domain plus an input shape, dtype, layout and data seed."""
    kwargs: dict[str, int] = {}
    for param in block.params:
        if param.name != "in_channel":
            kwargs[param.name] = draw(small_int(param, profile), label=param.name)
    has_channels = any(p.name == "in_channel" for p in block.params)
    channels_upper = min(profile.max_channels if has_channels else 64, max_channels or profile.max_channels)
    channels = draw(
        st.one_of(
            st.integers(1, min(64, channels_upper)),
            channel_edges(kwargs.get("ratio"), channels_upper),
            log_uniform(channels_upper),
        ),
        label="in_channel" if has_channels else "channels",
    )
    if has_channels:
        kwargs = {"in_channel": channels, **kwargs}
    assume(block.domain_violation(kwargs) is None)
    budget = max_numel or profile.max_numel
    batch = draw(st.integers(min_batch, profile.max_batch), label="batch")
    side_cap = max(1, min(profile.max_side, math.isqrt(max(1, budget // (batch * channels)))))
    height = draw(st.integers(1, side_cap), label="height")
    width = draw(st.integers(1, side_cap), label="width")
    assume(batch * channels * height * width <= max(budget, batch * channels))
    assume(block.input_violation(block.env(kwargs, variant), (batch, channels, height, width)) is None)
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    layout = draw(st.sampled_from(layouts), label="memory_format")
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    return Case(kwargs, (batch, channels, height, width), dtype, layout, seed)
