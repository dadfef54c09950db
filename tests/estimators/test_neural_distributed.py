"""Data-parallel training: two gloo processes under torchrun, each with a shard of every
minibatch, take the steps of one process with the same global batch."""

import re
from pathlib import Path

import numpy as np
import pytest

from _neural_worker import data, models, results
from _torchrun import torchrun

WORKER = Path(__file__).with_name("_neural_worker.py")
# Two interpreters importing torch and the package on a busy two-core machine take seconds;
# a launch that hangs (a collective waiting forever) fails the test instead.
LAUNCH_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two processes saved, from one torchrun launch."""
    out = tmp_path_factory.mktemp("neural-ddp")
    torchrun(WORKER, str(out), timeout=LAUNCH_TIMEOUT_S)
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


@pytest.fixture(scope="module")
def single_process():
    return {name: results(model.fit(data())) for name, model in models().items()}


@pytest.mark.parametrize("name", ["score", "interpolant"])
def test_two_processes_train_as_one_with_the_same_global_batch(ranks, single_process, name):
    # Each process saw half of every minibatch of 32 rows, the single process all of it.
    np.testing.assert_array_equal(single_process[name].pop("rows"), 32)
    for rank in ranks:
        np.testing.assert_array_equal(rank[f"{name}/rows"], 16)
    for key, want in single_process[name].items():
        # The processes hold the same weights: DistributedDataParallel averaged the gradients.
        np.testing.assert_array_equal(ranks[0][f"{name}/{key}"], ranks[1][f"{name}/{key}"])
        np.testing.assert_allclose(ranks[0][f"{name}/{key}"], want, rtol=1e-9,
                                   atol=1e-11 * np.abs(want).max(), err_msg=f"{name}: {key}")


def test_training_moved_the_weights(single_process):
    # Not a comparison of two untrained networks: 15 steps changed every model.
    before = np.concatenate([p.detach().numpy().ravel() for p in models()["score"].network.parameters()])
    assert np.abs(single_process["score"]["weights"] - before).max() > 1e-3


@pytest.mark.parametrize("rank", [0, 1])
def test_a_batch_that_does_not_split_is_refused_on_every_process(ranks, rank):
    assert str(ranks[rank]["error/odd-batch"]) == "passed"


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide" / "neural.md"


def test_the_guide_s_torchrun_script_trains_one_model_on_every_process(tmp_path):
    blocks = re.findall(r"^```python\n(# train_ddp\.py.*?)^```", GUIDE.read_text(),
                        re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    script = tmp_path / "train_ddp.py"
    script.write_text(blocks[0])
    stdout = torchrun(script, timeout=LAUNCH_TIMEOUT_S)
    # The two processes share stdout, so one's line can end inside the other's.
    lines = re.findall(r"process (\d): (\d+) steps, held-out loss (\d\.\d{4})", stdout)
    assert sorted(rank for rank, _, _ in lines) == ["0", "1"], stdout
    assert lines[0][1:] == lines[1][1:]  # the same training on both
