"""The worker process flushes denormals to zero on every intra-op thread (flush_denormals, the
first thing its entry point does).

Each case runs in a fresh interpreter, as a worker starts: the float mode is per thread, and
torch's intra-op threads take it from the main thread when they start.
"""

import os
import subprocess
import sys

import pytest
import torch

# Four intra-op threads and a tensor far above torch's parallel grain (32,768 elements): every
# thread multiplies a share of the denormals. Prints how many products stayed nonzero.
PROBE = """
import torch
from worker.__main__ import main
{setup}
torch.set_num_threads(4)
x = torch.full((1 << 22,), 1e-39)
print(int(torch.count_nonzero(x * 1.0)))
"""
# The worker's own entry point, as `reglab up` starts it, told to train nothing and return.
ENTRY_POINT = 'main(["--max-runs", "0"], standalone_mode=False)'


def nonzero_products(setup: str, home) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "REGLAB_HOME": str(home)},
    )
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    not torch.backends.cpu.get_cpu_capability().startswith("AVX"),
    reason="flushing denormals is an x86 (SSE/AVX) mode",
)
def test_the_worker_process_flushes_denormals_on_every_thread(tmp_path):
    # The control: importing the worker changes nothing by itself (the test process needs
    # denormals: hypothesis refuses to run without them), and torch keeps them.
    assert nonzero_products("", tmp_path) == 1 << 22
    assert nonzero_products(ENTRY_POINT, tmp_path) == 0
