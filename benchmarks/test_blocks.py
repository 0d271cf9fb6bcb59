"""Every bundled implementation x block x pass x shape, timed against the memory floor of the same input.

Each benchmark interleaves the floor with the block: before every round, the floor's passes
(support.FLOOR_PASSES) run on preallocated buffers and are timed, so drift on a shared machine
moves both. ``extra_info["floor_ratio"]`` is the block's median over the floor's median. An
implementation that raises (the tutorial's ECA at channel counts where its kernel comes out even)
becomes an error row in the table and a skipped test, not a failure of the suite.
"""

from __future__ import annotations

import functools
import statistics
import time

import pytest
import torch

from benchmarks import support

SETTINGS = support.settings_from_env()
IMPLS, NOT_INSTALLED = support.bundled_implementations(SETTINGS.impls)


def _cases():
    for shape in SETTINGS.shapes:
        for impl, module in IMPLS.items():
            for block in SETTINGS.blocks:
                if not callable(getattr(module, support.SPEC.block(block).factory, None)):
                    continue  # the implementation does not provide this block
                for pass_ in support.PASSES:
                    label = f"{impl}-{block}-{pass_}-{'x'.join(map(str, shape))}"
                    yield pytest.param(impl, block, pass_, shape, id=label)


def _sync():
    if SETTINGS.device.startswith("cuda"):
        torch.cuda.synchronize()


@functools.lru_cache(maxsize=1)  # one shape's tensors alive at a time: the cases are grouped by shape
def _inputs(shape):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator).to(SETTINGS.device)
    grad_out = torch.randn(shape, generator=generator).to(SETTINGS.device)
    return x, grad_out, support.Floor(x)


def _one_call(module, x, grad_out, pass_):
    if pass_ == "forward":
        module.eval()

        def call():
            with torch.no_grad():
                module(x)  # the output is dropped at once, as a network would after the next layer
            _sync()

        return call, lambda: None
    module.train()
    leaf = x.detach().requires_grad_()

    def call():
        module(leaf).backward(grad_out)
        _sync()

    def reset():
        leaf.grad = None
        module.zero_grad(set_to_none=True)

    return call, reset


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]


@pytest.mark.parametrize("impl,block,pass_,shape", list(_cases()))
def test_block(benchmark, impl, block, pass_, shape):
    x, grad_out, floor = _inputs(shape)
    reads, copies = support.FLOOR_PASSES[block, pass_]
    row = support.Row(
        impl=impl, block=block, pass_=pass_, shape=shape, allocator=support.allocator_label(),
        threads=torch.get_num_threads(), device=SETTINGS.device, floor_model=support.floor_model(block, pass_),
    )
    benchmark.group = f"{support.shape_label(shape)} {pass_}"
    benchmark.extra_info.update(impl=impl, block=block, pass_=pass_, shape=list(shape))
    try:
        factory = getattr(IMPLS[impl], support.SPEC.block(block).factory)
        module = factory(**support.block_kwargs(block, shape)).to(SETTINGS.device)
        call, reset = _one_call(module, x, grad_out, pass_)
        call()  # a trial call: an implementation that raises becomes an error row
        reset()
    except Exception as err:  # noqa: BLE001 - any failure of the implementation is a result here
        row.error = _first_line(err)
        support.RESULTS.append(row)
        benchmark.extra_info["error"] = row.error
        benchmark(lambda: None)  # keeps pytest-benchmark from flagging an unused fixture
        pytest.skip(f"error row: {impl} {block} at {support.shape_label(shape)}: {row.error}")

    floor_times = []

    def setup():
        reset()
        _sync()
        start = time.perf_counter()
        floor.run(reads, copies)
        _sync()
        floor_times.append(time.perf_counter() - start)

    warmup = SETTINGS.warmup
    benchmark.pedantic(call, setup=setup, rounds=SETTINGS.rounds_for(shape), warmup_rounds=warmup)
    if benchmark.stats is None:  # --benchmark-disable: a smoke run, nothing to report
        return
    row.median_s = benchmark.stats.stats.median
    row.floor_median_s = statistics.median(floor_times[warmup:])
    row.floor_ratio = row.median_s / row.floor_median_s
    row.rounds = len(floor_times) - warmup
    support.RESULTS.append(row)
    benchmark.extra_info.update(
        floor_ratio=row.floor_ratio, floor_median_s=row.floor_median_s, floor_model=row.floor_model,
        threads=row.threads, allocator=row.allocator, device=row.device,
    )
