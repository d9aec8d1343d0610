"""Importing the worker package flushes denormals to zero on every intra-op thread.

Each case runs in a fresh interpreter: the float mode is per thread and torch's intra-op threads
take it from the main thread when they start, so only a new process shows what a worker gets.
"""

import subprocess
import sys

import pytest

# Four intra-op threads and a tensor far above torch's parallel grain (32,768 elements): every
# thread multiplies a share of the denormals. Prints how many products stayed nonzero.
PROBE = """
import torch
{imports}
torch.set_num_threads(4)
x = torch.full((1 << 22,), 1e-39)
print(int(torch.count_nonzero(x * 1.0)))
"""


def nonzero_products(imports: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(
    not __import__("torch").backends.cpu.get_cpu_capability().startswith("AVX"),
    reason="flushing denormals is an x86 (SSE/AVX) mode",
)
def test_a_process_that_imports_the_worker_flushes_denormals_on_all_threads():
    assert nonzero_products("") == 1 << 22  # the control: torch alone keeps them
    assert nonzero_products("import worker.lockstep") == 0
