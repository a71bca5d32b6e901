"""``python -m ntk_rs.experiments dynamics --quick`` writes its figures and numbers."""

import csv
import sys

import numpy as np
import pytest

from ntk_rs.experiments import available, dynamics
from ntk_rs.experiments.__main__ import main


def read(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_quick_study_writes_figures_and_consistent_numbers(tmp_path):
    assert "dynamics" in available()
    main(["dynamics", "--out", str(tmp_path), "--quick"])
    for name in ("dynamics_kernel_error.png", "dynamics_training.png"):
        size = (tmp_path / name).stat().st_size
        assert 10_000 < size < 150_000, (name, size)
    errors = read(tmp_path / "dynamics_kernel_error.csv")
    assert {r["kind"] for r in errors} == {"ntk", "rf"} and {r["networks"] for r in errors} == {"1", "2"}
    assert all(np.isfinite(float(r["relative_error"])) and float(r["relative_error"]) > 0 for r in errors)
    curves = read(tmp_path / "dynamics_training.csv")
    ntk = [float(r["train_mse"]) for r in curves if r["width"] == "0"]
    # Gradient descent on the linearised model with η λ_max = 0.5 < 2: no mode grows,
    # so the predicted train loss never increases.
    assert len(ntk) > 5 and bool(np.all(np.diff(ntk) <= 1e-12 * np.abs(ntk[1:])))
    assert {r["width"] for r in curves} == {"0", "8", "32"}
    gaps = read(tmp_path / "dynamics_gap.csv")
    assert all(np.isfinite(float(r["relative_rms_gap"])) for r in gaps)


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch, tmp_path):
    """As the stability study's: it was a bare ModuleNotFoundError for sklearn."""
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"dynamics study .*pip install 'ntk_rs\[demo\]'"):
        dynamics.main(tmp_path, quick=True)
