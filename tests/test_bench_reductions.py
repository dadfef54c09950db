"""Pieces of ``benchmarks/bench_reductions.py``'s GPU profile that run without a GPU."""

from types import SimpleNamespace

import numpy as np
import pytest

from test_benchmarks import import_benchmark

bench = import_benchmark("bench_reductions")


def _fake_torch(major, minor, n_sms):
    props = SimpleNamespace(major=major, minor=minor, multi_processor_count=n_sms)
    return SimpleNamespace(cuda=SimpleNamespace(get_device_properties=lambda index: props))


# Published FP32 peaks (vendor data sheets) at the boost clock nvidia-smi reports as max SM
# clock: H100/H200 SXM 67 TFLOP/s, A100 SXM 19.5, GeForce RTX 4090 82.6.
@pytest.mark.parametrize("capability, n_sms, mhz, published", [
    ((9, 0), 132, 1980.0, 67.0),
    ((8, 0), 108, 1410.0, 19.5),
    ((8, 9), 128, 2520.0, 82.6),
])
def test_fp32_peak_matches_published_figures(monkeypatch, capability, n_sms, mhz, published):
    monkeypatch.setattr(bench, "max_sm_clock_mhz", lambda: mhz)
    peak, source = bench.fp32_peak(_fake_torch(*capability, n_sms), None)
    np.testing.assert_allclose(peak, published, rtol=0.01)
    assert f"{n_sms} SMs" in source


def test_fp32_peak_unknown_without_a_clock(monkeypatch):
    monkeypatch.setattr(bench, "max_sm_clock_mhz", lambda: None)
    peak, source = bench.fp32_peak(_fake_torch(9, 0, 132), None)
    assert peak is None and "--peak-tflops" in source
    assert bench.fp32_peak(_fake_torch(9, 0, 132), 50.0) == (50.0, "given by --peak-tflops")


def test_time_budget_leaves_every_row_skipped(tmp_path):
    page = tmp_path / "gpu.md"
    bench.main(["--profile", "gpu", "--quick", "--no-progress", "--time-budget", "0",
                "--backends", "dense-torch", "torch", "--markdown", str(page)])
    rows = [line for line in page.read_text().splitlines() if line.startswith("| 2000x2000")]
    assert len(rows) == 4
    assert all("skipped (--time-budget 0 s spent)" in row for row in rows)
