"""The figure-making studies, in their --quick versions: files written, numbers sensible."""

import csv
import math
import subprocess
import sys

import numpy as np
import pytest

from ntk_rs import experiments

pytest.importorskip("matplotlib")


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {key: [row[key] for row in rows] for key in rows[0]}


def floats(values):
    return np.array([float(v) for v in values])


def check_figure(path):
    assert path.stat().st_size > 10_000
    assert path.stat().st_size < 150_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_studies_are_discovered():
    assert {"spectrum", "smoothness", "stability"} <= set(experiments.available())


def test_spectrum(tmp_path):
    # Through the command line, as users run it.
    run = subprocess.run(
        [sys.executable, "-m", "ntk_rs.experiments", "spectrum", "--out", str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    check_figure(tmp_path / "spectrum.png")
    slopes = read_csv(tmp_path / "spectrum_slopes.csv")
    fitted, predicted = floats(slopes["fitted_slope"]), floats(slopes["predicted_slope"])
    assert predicted.tolist() == [-3, -5, -10, -12]
    np.testing.assert_allclose(fitted, predicted, rtol=0.05)
    table = read_csv(tmp_path / "spectrum.csv")
    checked = [i for i, q in enumerate(table["mu_quadrature"]) if q != ""]
    np.testing.assert_allclose(
        floats([table["mu"][i] for i in checked]),
        floats([table["mu_quadrature"][i] for i in checked]),
        atol=1e-13,
    )


def test_smoothness(tmp_path, capsys):
    from ntk_rs.experiments import smoothness

    smoothness.main(tmp_path, quick=True)
    check_figure(tmp_path / "smoothness.png")
    ratio = read_csv(tmp_path / "smoothness_ratio.csv")
    theta = floats(ratio["theta"])
    small = theta < 1e-4
    np.testing.assert_allclose(
        floats(ratio["ntk_ratio"])[small], np.sqrt(2 / (np.pi * theta[small])), rtol=1e-3
    )
    assert (floats(ratio["rf_ratio"]) <= 1 + 1e-12).all()
    holder = read_csv(tmp_path / "smoothness_holder.csv")
    assert (floats(holder["ntk_distance"]) <= floats(holder["holder_bound"])).all()
    assert "Hölder bound" in capsys.readouterr().out


def test_stability(tmp_path):
    pytest.importorskip("sklearn")
    from ntk_rs.experiments import stability

    stability.main(tmp_path, quick=True)
    check_figure(tmp_path / "stability.png")
    d = read_csv(tmp_path / "stability_deformations.csv")
    grad = floats(d["grad_norm"])
    for key, exponent in (("ntk", 0.5), ("rf", 1.0), ("input", 1.0)):
        slope = np.polyfit(np.log(grad), np.log(floats(d[key])), 1)[0]
        assert slope == pytest.approx(exponent, abs=0.1), key
    t = read_csv(tmp_path / "stability_translations.csv")
    sigma, ntk, rf = floats(t["sigma_n"]), floats(t["ntk"]), floats(t["rf"])
    assert math.inf in sigma.tolist() and (ntk > 0).all() and (rf > 0).all()
    # Wider final pooling: translations move the features less (averaged over images).
    by_scale = [rf[sigma == s].mean() for s in sorted(set(sigma.tolist()))]
    assert by_scale == sorted(by_scale, reverse=True)
