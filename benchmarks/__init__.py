"""attncert's benchmark suite: ``pytest benchmarks --benchmark-only`` (see support.py for the floor model)."""
