"""An adapter that imports a module that does not exist (ModuleNotFoundError at import time).

Misbehaviour: the most common real-world import failure (a third-party library that is not
installed). `attncert certify` must exit with status 2 and a one-line message naming the missing
module (no traceback unless --debug).
"""

import attncert_no_such_module_xyz  # noqa: F401 - the fault

# Expected exit status of `attncert certify tests/corpus/faulty/import_missing_module.py`: 2 (import error).
EXPECT_EXIT = 2


def se(*, in_channel, ratio):
    return attncert_no_such_module_xyz.SE(in_channel, ratio)
