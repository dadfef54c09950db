"""Launching a test script in two gloo processes, as a user launches one with ``torchrun``."""

import os
import subprocess
import sys


def torchrun(script, *args, timeout):
    """Run ``script`` in two gloo processes (torchrun, a free port); its stdout.

    ``timeout`` in seconds: a launch that hangs (a collective waiting forever) fails the test
    instead of the suite."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(script), *args]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout
