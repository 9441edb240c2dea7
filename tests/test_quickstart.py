"""The quickstart example runs end to end (reduced sizes) and shows what the seed shows."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path):
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    results = quickstart.main(quick=True, outdir=str(tmp_path))
    assert len(results["figures"]) == 14
    assert all((tmp_path / name).stat().st_size > 1000 for name in results["figures"])
    # ADVI is unimodal around the heavier mode's side; SVGD keeps both modes
    assert results["svgd_below_zero"] > 0.1
    assert results["absolute_convergence_iterations"] < 10000
    assert 0.0 < results["x2_mean"] < 1.0
    assert results["iris_test_accuracy"] > 0.9
    assert results["full_batch_iterations"] == 10
    assert results["minibatch_loss_decreased"]
