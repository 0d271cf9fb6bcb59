"""The operators, by kind: importing this package registers them all in ``mutator.OPERATORS``."""

from . import activations, constants, normalisation, pooling, structure, weights  # noqa: F401  (registration)
