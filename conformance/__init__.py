"""attncert: property-based conformance certification for attention blocks (SE, ECA, CBAM, Coordinate Attention, SimAM).

Public API: ``certify``, ``parametrize_with_checks``, ``clause_params``, ``check``, ``ClauseFailed``
(see conformance/api.py). The CLI is ``attncert``; the pytest plugin is ``pytest --impl TARGET``.
"""

__all__ = ["certify", "parametrize_with_checks", "clause_params", "check", "ClauseFailed"]


def __getattr__(name: str):
    # Lazy: importing the package (as the pytest plugin does) must not import torch.
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
