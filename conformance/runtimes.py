"""How a block runs as users deploy it (``attncert certify --runtime``): eager, ``torch.compile``,
``torch.export`` or ONNX run by onnxruntime.

Under a runtime other than eager, every forward of a clause runs through an artifact made from the
module the factory built, with batch, height and width dynamic: ``torch.compile(module,
dynamic=True)``; ``torch.export.export`` with a ``Dim`` for each, run as ``ExportedProgram.module()``;
``torch.onnx.export(dynamo=True)`` with the same dims, run by onnxruntime. An artifact is built once
per module class, constructor setting, dtype and mode (and, for ONNX, whose graph holds the weights,
per weights), at the runtime's trace input (the spec's ``trace``: batch, height and width of at
least 2, all different), and then judged at the clause's inputs, sizes of 1 included.

The parent only asks a runtime what this machine lacks for it (``problem``) and which versions
build it (``versions``); torch and the exporters are imported in the workers.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import os
import re
import shutil
import weakref
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from .lazy import lazy_torch

torch = lazy_torch()

ONNX_OPSET = 20  # the dynamo exporter's default in torch 2.13, named so that the certificate can say it


@dataclass(frozen=True)
class Deployment:
    """What an artifact is made from, besides the module: its block and constructor setting (the
    keywords and variant options, which need not show in the module's parameters, e.g. SimAM's
    lambda) and the trace input's shape."""

    block: str
    setting: tuple
    trace: tuple[int, int, int, int]


_BUILT: "weakref.WeakKeyDictionary[Any, tuple[str, tuple]]" = weakref.WeakKeyDictionary()


def remember(module, block: str, kwargs: dict, variant: dict) -> None:
    """Note which block and setting a freshly built module is (the runtimes key their artifacts on it)."""
    _BUILT[module] = (block, tuple(sorted(kwargs.items())) + tuple(sorted(variant.items())))


def deployment(module, x, trace: tuple[int, int, int]) -> Deployment:
    """Where ``module`` (built by the harness) comes from, with a trace input of ``x``'s channels
    (fixed by construction: only batch, height and width are dynamic)."""
    block, setting = _BUILT[module]
    batch, height, width = trace
    return Deployment(block, setting, (batch, x.shape[1], height, width))


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _dims():
    from torch.export import Dim

    return ({0: Dim("B"), 2: Dim("H"), 3: Dim("W")},)


def _trace_input(shape: tuple[int, ...], like) -> Any:
    """The trace input: the case's dtype and device, values from a fixed private generator."""
    values = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return values.to(device=like.device, dtype=like.dtype)


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # the ONNX exporter colours its messages


def _first_lines(err: BaseException, lines: int = 3, limit: int = 600) -> str:
    plain = ANSI_ESCAPE.sub("", str(err)).strip()
    text = " ".join(line.strip() for line in plain.splitlines()[:lines] if line.strip())
    return f"{type(err).__name__}: {text[:limit]}"


@contextlib.contextmanager
def _tracing():
    """While a tracer runs: cuDNN's float32 setting made through the legacy ``allow_tf32`` (IEEE),
    the only form in which its legacy getter, which the tracers read, answers. Set per operator to
    IEEE, as the harness sets them for every clause, that getter raises in torch >= 2.9."""
    cudnn = [getattr(torch.backends.cudnn, part, None) for part in ("conv", "rnn")]
    knobs = [k for k in cudnn if k is not None and hasattr(k, "fp32_precision")]
    saved = [k.fp32_precision for k in knobs]
    if not knobs:
        yield
        return
    try:
        legacy = torch.backends.cudnn.allow_tf32
    except RuntimeError:  # it refuses to answer while set per operator (as the harness sets it): torch's default
        legacy = True
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        # the legacy flag back too: left False, it disagrees with the restored settings, and every
        # later reader of it (a user's torch.export in the same process) raises
        torch.backends.cudnn.allow_tf32 = legacy
        for knob, value in zip(knobs, saved):
            knob.fp32_precision = value


def _template(module):
    """A copy of the module to export: its own tensors, and parameters that are Parameters (inside a
    functional call, e.g. gradcheck's, they are plain tensors, which torch.export rejects)."""
    template = copy.deepcopy(module)
    for owner in template.modules():
        for name, value in list(owner._parameters.items()):
            if value is not None and not isinstance(value, torch.nn.Parameter):
                owner._parameters[name] = torch.nn.Parameter(value.detach().clone(), requires_grad=value.requires_grad)
    return template


@contextlib.contextmanager
def _buffers_kept(module):
    """Run something on the module without leaving a trace in its buffers (BatchNorm's running statistics)."""
    saved = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    try:
        yield
    finally:
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                buffer.copy_(saved[name])


class Runtime:
    """A way to deploy a module. ``run`` executes one forward through its artifact (in a worker)."""

    name = ""
    packages: tuple[str, ...] = ()  # what it imports beyond torch: attncert's "deploy" extra

    def problem(self, device: str) -> str | None:
        """Why this machine cannot use the runtime (a missing package or compiler), or None."""
        missing = [p for p in self.packages if importlib.util.find_spec(p) is None]
        if missing:
            return (f"--runtime {self.name} needs {', '.join(missing)}, which this environment lacks: "
                    f"pip install \"attncert[deploy]\"")
        return None

    def versions(self) -> dict[str, Any]:
        return {}

    def begin_task(self, scope: tuple) -> None:
        """A new task starts in this worker (``scope``: its target and block): what the runtime kept
        from the last one may go."""

    def run(self, module, x, where: Deployment):
        raise NotImplementedError


class Eager(Runtime):
    name = "eager"

    def run(self, module, x, where: Deployment):
        return module(x)


class Compile(Runtime):
    """``torch.compile(module, dynamic=True)``, the inductor backend: one compiled module per module
    class and setting, called with each module's own parameters and buffers (they are inputs of the
    compiled graphs, so gradients and running statistics land where eager puts them, and a new
    module of the same setting does not recompile). Value-only checks run without autograd (a
    convolution's backward makes inductor specialise on H and W: one graph per size)."""

    name = "compile"
    RECOMPILE_LIMIT = 4096  # torch's default of 8 would fall back to eager, silently, after 8 graphs

    def __init__(self):
        self.compiled: dict = {}
        self.traced: set = set()
        self.scope: tuple = ()
        self.configured = False

    def problem(self, device: str) -> str | None:
        if device.startswith("cuda"):
            return None  # inductor writes Triton kernels for the GPU
        compilers = [os.environ.get("CXX"), "g++", "clang++", "c++"]
        if not any(c and shutil.which(c) for c in compilers):
            return ("--runtime compile needs a C++ compiler: torch.compile's inductor backend builds C++ code for "
                    "the CPU, and none of g++, clang++ or c++ (or $CXX) is on the PATH")
        return None

    def versions(self) -> dict[str, Any]:
        return {"compile_backend": "inductor", "compile_dynamic": True, "compile_layout_optimization": False}

    def begin_task(self, scope: tuple) -> None:
        """The clauses of one block of one target share their compiled graphs (dynamo's own cache,
        guarded on dtype, layout, mode and sizes of 1): a graph costs seconds of C++ compilation, and
        a block's clauses meet the same ones again and again. Another block or target starts from no
        compiled code. With AOTAutograd's cache and the layout optimisation off (``_configure``),
        no verdict has been seen to depend on the graphs an earlier clause left; with either on, a
        backward compiled for one input's strides was run on another's ("expected size 2==2, stride
        560==672")."""
        if scope != self.scope and self.compiled:
            import torch._dynamo

            torch._dynamo.reset()
            self.compiled.clear()
            self.traced.clear()
        self.scope = scope

    def _configure(self) -> None:
        if not self.configured:
            import torch._dynamo
            import torch._functorch.config
            import torch._inductor.config

            # AOTAutograd's cache returned, for a contiguous input, a backward compiled for another
            # input's strides (torch 2.13, ECA: "expected size 2==2, stride 560==672"): off, so that
            # no verdict depends on what an earlier graph left in the cache
            torch._functorch.config.enable_autograd_cache = False
            # Inductor's layout optimisation lays a convolution's input out channels_last and writes
            # the trace input's strides into the dynamic backward as constants: torchvision's SE,
            # compiled at [2, 16, 5, 3], failed its backward at [2, 16, 5, 7] ("expected size 2==2,
            # stride 560==240", torch 2.14.1), as any convolutional block would. A bug of torch's,
            # not of the block: off (the certificate says so, under compile_layout_optimization)
            torch._inductor.config.layout_optimization = False
            torch._dynamo.config.recompile_limit = self.RECOMPILE_LIMIT
            torch._dynamo.config.accumulated_recompile_limit = self.RECOMPILE_LIMIT
            torch._dynamo.config.fail_on_recompile_limit_hit = True  # never judge eager code as compiled
            torch._inductor.config.compile_threads = 1  # one worker per core already
            self.configured = True

    def run(self, module, x, where: Deployment):
        from torch.func import functional_call

        self._configure()
        compiled = self.compiled.get((type(module), where))
        if compiled is None:
            compiled = self.compiled[type(module), where] = torch.compile(_template(module), dynamic=True)
        compiled.train(module.training)
        state = {f"_orig_mod.{name}": t for name, t in (*module.named_parameters(), *module.named_buffers())}
        grad = torch.is_grad_enabled() and x.requires_grad
        autograd = contextlib.nullcontext() if grad else torch.no_grad()
        layout = _layout(x)
        key = (type(module), where, x.dtype, x.device.type, module.training, grad, layout)
        if key not in self.traced:  # the first graph of this kind is traced at the trace input, in x's layout
            trace = _trace_input(where.trace, x).requires_grad_(grad)
            channels_last = layout == "channels_last"
            trace = trace.contiguous(memory_format=torch.channels_last) if channels_last else trace
            try:
                with _buffers_kept(module), autograd:
                    functional_call(compiled, state, (trace,))
            except Exception as err:
                laid_out = " laid out channels_last" if channels_last else ""
                raise _failure(f"torch.compile failed at the trace input {list(where.trace)}{laid_out}: "
                               f"{_first_lines(err)}", "runtime:compile") from err
            self.traced.add(key)
        try:
            with autograd:
                return functional_call(compiled, state, (x,))
        except Exception as err:
            raise _failure(f"the compiled module raised at input {list(x.shape)} (traced at {list(where.trace)}): "
                           f"{_first_lines(err)}", f"runtime:compile:{type(err).__name__}") from err


def _layout(x) -> str:
    if x.is_contiguous():
        return "contiguous"
    return "channels_last" if x.is_contiguous(memory_format=torch.channels_last) else "strided"


class Export(Runtime):
    """``torch.export.export`` with dynamic batch, height and width, run as ``.module()``. Its
    parameters and buffers are the module's own (passed in by name), so gradients and running
    statistics land where eager puts them."""

    name = "export"

    def __init__(self):
        self.programs: dict = {}

    def run(self, module, x, where: Deployment):
        from torch.func import functional_call

        key = (type(module), where, x.dtype, x.device.type, module.training)
        program = self.programs.get(key)
        if program is None:
            try:
                with _tracing():
                    program = torch.export.export(_template(module), (_trace_input(where.trace, x),),
                                                  dynamic_shapes=_dims()).module()
            except Exception as err:
                raise _failure(f"exporting failed (torch.export at {list(where.trace)} with dynamic batch, height and "
                               f"width): {_first_lines(err)}", "runtime:export") from err
            self.programs[key] = program
        names = {name for name, _ in program.named_parameters()} | {name for name, _ in program.named_buffers()}
        state = {name: t for name, t in (*module.named_parameters(), *module.named_buffers()) if name in names}
        try:
            return functional_call(program, state, (x,))
        except Exception as err:
            raise _failure(f"the exported module raised at input {list(x.shape)} (traced at {list(where.trace)}): "
                           f"{_first_lines(err)}", f"runtime:export:{type(err).__name__}") from err


class Onnx(Runtime):
    """``torch.onnx.export(dynamo=True)`` in eval mode, dynamic batch, height and width, run by
    onnxruntime (its CPU provider; the CUDA provider under ``--device cuda``). The graph holds the
    weights, so an artifact is made per weights too."""

    name = "onnx"
    packages = ("onnx", "onnxscript", "onnxruntime")

    def __init__(self):
        self.sessions: dict = {}

    def problem(self, device: str) -> str | None:
        missing = super().problem(device)
        if missing or not device.startswith("cuda"):
            return missing
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return (f"--runtime onnx --device {device} needs onnxruntime's CUDAExecutionProvider (pip install "
                    f"onnxruntime-gpu); this onnxruntime has {', '.join(onnxruntime.get_available_providers())}")
        return None

    def versions(self) -> dict[str, Any]:
        return {"onnx": _version("onnx"), "onnxscript": _version("onnxscript"), "onnxruntime": _version("onnxruntime"),
                "opset": ONNX_OPSET}

    def run(self, module, x, where: Deployment):
        key = (type(module), where, x.dtype, x.device.type, _fingerprint(module))
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = self._session(module, _trace_input(where.trace, x), where)
        feed = {session.get_inputs()[0].name: x.detach().cpu().contiguous().numpy()}
        try:
            out = session.run(None, feed)[0]
        except Exception as err:
            raise _failure(f"onnxruntime raised at input {list(x.shape)} (traced at {list(where.trace)}): "
                           f"{_first_lines(err)}", f"runtime:onnx:{type(err).__name__}") from err
        return torch.from_numpy(out).to(x.device)

    def _session(self, module, trace, where: Deployment):
        import onnxruntime

        training = module.training
        module.eval()
        try:
            with _tracing():
                program = torch.onnx.export(module, (trace,), dynamo=True, dynamic_shapes=_dims(),
                                            opset_version=ONNX_OPSET, verbose=False)
        except Exception as err:
            raise _failure(f"exporting to ONNX failed (at {list(where.trace)} with dynamic batch, height and width): "
                           f"{_first_lines(err)}", "runtime:onnx:export") from err
        finally:
            module.train(training)
        model = program.model_proto
        dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        fixed = [name for name, d, size in zip("BCHW", dims, where.trace) if name != "C" and not isinstance(d, str)]
        if fixed:
            raise _failure(f"exporting to ONNX fixed the input's {', '.join(fixed)} to the traced "
                           f"{[d for d in dims]} (the exporter could not keep them dynamic)", "runtime:onnx:static")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider"] if trace.device.type == "cuda" else ["CPUExecutionProvider"]
        try:
            return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)
        except Exception as err:
            raise _failure(f"onnxruntime cannot load the exported model: {_first_lines(err)}", "runtime:onnx:load") from err


def _fingerprint(module) -> str:
    """The module's weights and buffers, as bytes: ONNX bakes them into the graph."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in (*module.named_parameters(), *module.named_buffers()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _failure(message: str, cause: str):
    from .subject import ClauseFailure

    return ClauseFailure(message, cause=cause)


RUNTIMES: dict[str, Runtime] = {runtime.name: runtime for runtime in (Eager(), Compile(), Export(), Onnx())}


class RuntimeUnavailable(ValueError):
    """This machine cannot use the runtime asked for (a missing package or compiler): a usage error."""


def require(spec, name: str, device: str) -> None:
    """Check up front that the spec declares the runtime and that this machine can use it."""
    spec.runtime(name)  # an unknown name: DomainError
    problem = RUNTIMES[name].problem(device)
    if problem:
        raise RuntimeUnavailable(problem)


def deployed(name: str, trace: tuple[int, int, int]) -> Callable:
    """The forward of runtime ``name``: ``f(module, x)`` through the module's artifact."""
    runtime = RUNTIMES[name]
    return lambda module, x: runtime.run(module, x, deployment(module, x, trace))
