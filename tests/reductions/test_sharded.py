"""The sharded reduction: two gloo processes, each with a shard of the centers, against
``mixture_moments`` on all centers in this process."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from _sharded_worker import CASES, N, problem, structure
from _torchrun import torchrun
from wpokernel.reductions import Isotropic, LowRank, mixture_moments, sharded_mixture_moments

WORKER = Path(__file__).with_name("_sharded_worker.py")
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide" / "gpu.md"
# Two interpreters importing torch and the package on a busy two-core machine take seconds;
# a launch that hangs (a collective waiting forever) fails the tests instead.
LAUNCH_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two processes saved (``rank<r>.npz``), from one torchrun launch."""
    out = tmp_path_factory.mktemp("sharded")
    torchrun(WORKER, str(out), timeout=LAUNCH_TIMEOUT_S)
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


def _reference(case):
    kind, _, _, with_weights, with_values = CASES[case]
    x, z, log_w, values, params = problem()
    return mixture_moments(x, z, structure(kind, params), log_w if with_weights else None,
                           values if with_values else None, score=True, laplacian=True,
                           backend="numpy")


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("case", list(CASES))
def test_two_shards_equal_one_process(ranks, case, rank):
    reference = _reference(case)
    fields = [f for f, value in zip(reference._fields, reference) if value is not None]
    with_values = CASES[case][4]
    assert fields == ["log_density", "displacement", "laplacian_term"] + ["values"] * with_values
    for field in fields:
        want = getattr(reference, field)
        np.testing.assert_allclose(ranks[rank][f"{case}/{field}"], want, rtol=1e-12,
                                   atol=1e-12 * np.abs(want).max(), err_msg=f"{case}: {field}")


def test_shards_differ_from_the_whole(ranks):
    # Each shard alone is a different mixture: the combination is what makes them agree.
    x, z, log_w, _, params = problem()
    alone = mixture_moments(x, z[:6], structure("isotropic", params, slice(0, 6)), log_w[:6])
    gap = np.abs(alone.log_density - ranks[0]["isotropic-even/log_density"]).min()
    assert gap > 0.01


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("case", ["centers-features", "process-features", "log-weights", "queries",
                                  "score-flag", "grad"])
def test_bad_input_raises_on_every_process(ranks, case, rank):
    assert str(ranks[rank][f"error/{case}"]) == "passed"


# ------------------------------------------------------------------ without a process group

@pytest.mark.parametrize("covariance", [Isotropic(0.3), LowRank(0.2, np.ones((N, 3, 1)))],
                         ids=["isotropic", "lowrank"])
@pytest.mark.parametrize("with_weights", [True, False])
def test_without_a_process_group_it_is_mixture_moments(covariance, with_weights):
    assert not torch.distributed.is_initialized()
    x, z, log_w, values, _ = problem()
    log_w = log_w if with_weights else None
    got = sharded_mixture_moments(x, z, covariance, log_w, values, score=True, laplacian=True)
    want = mixture_moments(x, z, covariance, log_w, values, score=True, laplacian=True)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_without_a_process_group_errors_are_mixture_moments_errors():
    x, z, _, _, _ = problem()
    with pytest.raises(ValueError, match="centers with 3 columns"):
        sharded_mixture_moments(x, z[:, :2], Isotropic(1.0))
    with pytest.raises(ValueError, match=r"log_weights of shape \(12,\)"):
        sharded_mixture_moments(x, z, Isotropic(1.0), np.zeros(N - 1))


def test_the_guide_s_torchrun_script_matches_one_process(tmp_path):
    blocks = re.findall(r"^```python\n(# sharded\.py.*?)^```", GUIDE.read_text(), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    script = tmp_path / "sharded.py"
    script.write_text(blocks[0])
    stdout = torchrun(script, timeout=LAUNCH_TIMEOUT_S)
    # The two processes share stdout, so one's line can end inside the other's.
    lines = re.findall(r"process (\d) of 2: relative error of the score (\d\.\de[-+]\d+)", stdout)
    assert sorted(rank for rank, _ in lines) == ["0", "1"], stdout
    assert all(float(error) < 1e-12 for _, error in lines), lines
