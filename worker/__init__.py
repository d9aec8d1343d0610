"""The training side: claims runs from the database queue and trains them. Imports no web code.

Importing it flushes denormal floats to zero on the CPU for the whole process (see below).
"""

import torch

# Denormals (nonzero floats under 1.2e-38) take a slow path on x86 CPUs. Training the tutorial's
# network makes them: from about epoch 5, Adam's first moment of weights that rarely get a gradient
# decays below the normal range, and from epoch 9 tens of thousands of first-layer weights and
# gradients follow. Measured here (Intel Xeon, three tutorial arms, bench/denormals.py): epochs
# went from 330 to 1,000 ms; flushed, every epoch takes the same. What flushing changes: a value
# that would have been denormal is 0. These weights only ever multiply pixels that are 0, so the
# losses and accuracies are the same; a weight statistic counts them as exact zeros, which is
# what the checkpoint holds, so it still reproduces every figure.
# Why at import: torch's intra-op threads copy the float mode of the thread that starts them, at
# the first parallel op, and never read it again. Set later, the mode would reach the main thread
# only and half of each parallel op would stay slow. Every process that trains (the worker,
# tests, benches) imports this package before its first torch op. A no-op where the CPU has no
# such mode; GPUs are unaffected.
torch.set_flush_denormal(True)
