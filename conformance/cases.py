"""A test case: constructor keywords plus one input, serialisable as a certificate's counterexample."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

DTYPES = ("float64", "float32")
LAYOUTS = ("contiguous", "channels_last", "noncontiguous")


@dataclass(frozen=True)
class Case:
    kwargs: Mapping[str, Any]
    input_shape: tuple[int, int, int, int]
    dtype: str = "float64"
    memory_format: str = "contiguous"
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # clause-specific draws (e.g. perturbed index)

    def counterexample(self) -> dict[str, Any]:
        """The DESIGN §4 counterexample object: keywords, input shape, dtype, layout, data seed."""
        return {
            **self.kwargs,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "memory_format": self.memory_format,
            "seed": self.seed,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    @classmethod
    def from_counterexample(cls, data: Mapping[str, Any]) -> "Case":
        data = dict(data)
        try:
            shape = tuple(int(n) for n in data.pop("input_shape"))
            dtype = data.pop("dtype", "float64")
            layout = data.pop("memory_format", "contiguous")
            seed = int(data.pop("seed", 0))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a counterexample: {err}") from None
        extra = data.pop("extra", {})
        if len(shape) != 4 or dtype not in DTYPES or layout not in LAYOUTS:
            raise ValueError(f"not a counterexample: shape {shape}, dtype {dtype!r}, memory_format {layout!r}")
        return cls(data, shape, dtype, layout, seed, extra)  # type: ignore[arg-type]

    def describe(self) -> str:
        keywords = ", ".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{keywords}; input {list(self.input_shape)} {self.dtype} {self.memory_format} seed={self.seed}"

    def to_json(self) -> str:
        return json.dumps(self.counterexample(), sort_keys=False)
