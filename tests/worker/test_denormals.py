"""flush_denormals, what the worker process does first: every intra-op thread flushes.

Each case runs in a fresh interpreter, as a worker starts: the float mode is per thread, and
torch's intra-op threads take it from the main thread when they start.
"""

import subprocess
import sys

import pytest
import torch

# Four intra-op threads and a tensor far above torch's parallel grain (32,768 elements): every
# thread multiplies a share of the denormals. Prints how many products stayed nonzero.
PROBE = """
import torch
import worker.__main__
from worker.train import flush_denormals
{setup}
torch.set_num_threads(4)
x = torch.full((1 << 22,), 1e-39)
print(int(torch.count_nonzero(x * 1.0)))
"""


def nonzero_products(setup: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(
    not torch.backends.cpu.get_cpu_capability().startswith("AVX"),
    reason="flushing denormals is an x86 (SSE/AVX) mode",
)
def test_flush_denormals_reaches_every_intra_op_thread():
    # The control: importing the worker changes nothing by itself (the test process needs
    # denormals), and torch keeps them.
    assert nonzero_products("") == 1 << 22
    assert nonzero_products("flush_denormals()") == 0
