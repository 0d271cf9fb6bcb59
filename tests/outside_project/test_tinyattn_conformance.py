"""tinyattn's conformance tests: every attncert clause for every block tinyattn provides.

Written the way any outside project would: it imports only attncert's public API. Each clause is
one test (test_tinyattn_conforms[se::params.count], ...). Known, deliberate deviations are listed
with their reason; they are strict xfails, so an entry that starts passing fails the run and the
list cannot go stale.
"""

import tinyattn
from conformance import parametrize_with_checks

KERNEL_CLAMP = "we clamp the ECA kernel to k >= 3, like timm (declared as the kernel_min=3 variant)"

# Under the plain spec (the documents' ECA), channel counts whose kernel is 1 get a 3-tap kernel
# here: 3 parameters instead of 1, so the canonical weights do not fit (and the clauses that need
# them: the oracle comparisons and the gradient checks at points the oracle knows to be smooth),
# and the gate reaches one channel further. Under the declared variant every eca clause passes.
EXPECTED_FAILURES = {
    **{f"eca::{clause}": KERNEL_CLAMP for clause in (
        "params.count", "weights.transfer", "oracle.output", "oracle.input_grad", "oracle.param_grad",
        "gradcheck", "gradgradcheck", "invariant.kernel_size",
    )},
}


@parametrize_with_checks(tinyattn, expected_failures=EXPECTED_FAILURES)
def test_tinyattn_conforms(attncert_check):
    attncert_check()
