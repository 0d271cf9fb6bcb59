"""A test case: constructor keywords plus one input, serialisable as a certificate's counterexample."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

DTYPES = ("float64", "float32")  # the plain spec's dtypes; precision profiles add reduced ones
REDUCED_DTYPES = ("bfloat16", "float16")
LAYOUTS = ("contiguous", "channels_last", "noncontiguous")
# How the input's values are drawn (times input_scale): standard normal; post-ReLU feature maps
# (non-negative, half zeros); multiples of 1/2 (ties in every max, exact zeros).
VALUES = ("normal", "sparse", "quantized")


@dataclass(frozen=True)
class Case:
    kwargs: Mapping[str, Any]
    input_shape: tuple[int, int, int, int]
    dtype: str = "float64"
    memory_format: str = "contiguous"
    seed: int = 0
    input_scale: float = 1.0  # the input's magnitude: tiny inputs leave gates near 1/2, large ones saturate them
    weight_scale: float = 1.0  # the canonical weights' magnitude relative to PyTorch's default init
    values: str = "normal"
    extra: Mapping[str, Any] = field(default_factory=dict)  # clause-specific draws (e.g. perturbed index)
    weight_seed: int | None = None  # where the module's weights come from, when not from ``seed`` (a deployed artifact's)

    @property
    def module_seed(self) -> int:
        """The seed of the module's weights (its own initialisation, and the oracle's canonical ones)."""
        return self.seed if self.weight_seed is None else self.weight_seed

    def counterexample(self) -> dict[str, Any]:
        """The certificate's counterexample object: keywords, input shape, dtype, layout, values, data seed."""
        return {
            **self.kwargs,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "memory_format": self.memory_format,
            "values": self.values,
            "input_scale": self.input_scale,
            "weight_scale": self.weight_scale,
            "seed": self.seed,
            **({"extra": dict(self.extra)} if self.extra else {}),
            **({"weight_seed": self.weight_seed} if self.weight_seed is not None else {}),
        }

    @classmethod
    def from_counterexample(cls, data: Mapping[str, Any]) -> "Case":
        """The case a counterexample describes; ValueError says what is wrong with it."""
        if not isinstance(data, Mapping):
            raise ValueError(f"not a counterexample: expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        try:
            shape = tuple(int(n) for n in data.pop("input_shape"))
            dtype = data.pop("dtype", "float64")
            layout = data.pop("memory_format", "contiguous")
            values = data.pop("values", "normal")
            seed = int(data.pop("seed", 0))
            input_scale = float(data.pop("input_scale", 1.0))
            weight_scale = float(data.pop("weight_scale", 1.0))
        except KeyError as err:
            raise ValueError(f"not a counterexample: it has no {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"not a counterexample: {err}") from None
        extra = data.pop("extra", {})
        weight_seed = data.pop("weight_seed", None)
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f"not a counterexample: input_shape {list(shape)} is not [B, C, H, W] of positive sizes")
        for name, value, known in (("dtype", dtype, DTYPES + REDUCED_DTYPES), ("memory_format", layout, LAYOUTS),
                                   ("values", values, VALUES)):
            if value not in known:
                raise ValueError(f"not a counterexample: {name} {value!r} is not one of {', '.join(known)}")
        if weight_seed is not None and (isinstance(weight_seed, bool) or not isinstance(weight_seed, int)):
            raise ValueError(f"not a counterexample: weight_seed {weight_seed!r} is not an integer")
        return cls(data, shape, dtype, layout, seed, input_scale, weight_scale, values, extra, weight_seed)  # type: ignore[arg-type]

    def with_(self, **changes) -> "Case":
        return replace(self, **changes)

    def size(self) -> tuple:
        """How big the case is, for choosing the smallest of several failing cases."""
        numel = 1
        for n in self.input_shape:
            numel *= n
        return (numel, sorted(self.kwargs.items()), self.dtype != "float64", abs(self.input_scale - 1), abs(self.weight_scale - 1))

    def describe(self) -> str:
        keywords = ", ".join(f"{k}={v}" for k, v in self.kwargs.items())
        scales = "" if (self.input_scale, self.weight_scale) == (1.0, 1.0) else f" input x{self.input_scale:g}, weights x{self.weight_scale:g}"
        return f"{keywords}; input {list(self.input_shape)} {self.dtype} {self.memory_format} {self.values}{scales} seed={self.seed}"

    def to_json(self) -> str:
        return json.dumps(self.counterexample(), sort_keys=False)
