"""The feature-map studies (features-mnist, features-cifar, features-exact) in their --quick
versions on small synthetic datasets in the real files' layout, their shared ridge
regression and ZCA whitening, and one run on the real MNIST where ../shared/data has it."""

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ntk_rs.experiments import _features, available
from ntk_rs.experiments.__main__ import main

COLUMNS = [
    "dataset",
    "n_train",
    "n_test",
    "dim",
    "kind",
    "seed",
    "network",
    "widths",
    "preprocessing",
    "ridge",
    "validation_accuracy",
    "test_accuracy",
    "time_load_s",
    "time_features_train_s",
    "time_features_test_s",
    "time_fit_s",
    "time_predict_s",
    "peak_memory_mib",
    "threads",
    "virtual",
]
STUDY = [sys.executable, "-m", "ntk_rs.experiments"]
ACCURACY_LINE = re.compile(r"^test accuracy: (\d{1,3}\.\d\d) %$", re.MULTILINE)


def read(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def gratings(rng, n, shape, noise, classes=10):
    """Noisy sine gratings, uint8: class k has orientation 36° × (k mod 5) and a frequency
    set by k // 5, each image a random phase (and for colour a random tint), plus white
    noise of standard deviation ``noise``. Translation-invariant classes, so that global
    pooling keeps them apart: an easy task for the kernels."""
    y = rng.integers(0, classes, n)
    h, w = shape[:2]
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    angle = np.pi / 5 * (y % 5)
    freq = np.where(y < 5, 0.12, 0.3) * 2 * np.pi
    phase = rng.uniform(0, 2 * np.pi, n)
    wave = np.sin(
        freq[:, None, None] * (np.cos(angle)[:, None, None] * i + np.sin(angle)[:, None, None] * j)
        + phase[:, None, None]
    )
    if len(shape) == 3:  # colour: the grating in a random tint
        wave = wave[..., None] * rng.uniform(0.5, 1.0, (n, 1, 1, shape[2]))
    x = 128 + 80 * wave + rng.normal(0, noise, (n, *shape))
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)


def write_dataset(folder, file, shape, noise, n_train=300, n_test=100):
    rng = np.random.default_rng(0)
    x_train, y_train = gratings(rng, n_train, shape, noise)
    x_test, y_test = gratings(rng, n_test, shape, noise)
    np.savez(folder / file, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return folder


@pytest.fixture
def mnist_like(tmp_path):
    return write_dataset(tmp_path, "mnist.npz", (28, 28), noise=25)


@pytest.fixture
def cifar_like(tmp_path):
    # Little noise: ZCA fitted on 270 images equalises the gratings' few directions with
    # the noise's thousands, and white noise of the MNIST-like level would then drown them
    # (real images spread their variance over many directions).
    return write_dataset(tmp_path, "cifar10.npz", (32, 32, 3), noise=2)


def check_run(out, stem, stdout, n_train, n_test, dim):
    (printed,) = ACCURACY_LINE.findall(stdout)
    rows = read(out / f"{stem}.csv")
    assert len(rows) == 1 and list(rows[0]) == COLUMNS
    row = rows[0]
    assert (int(row["n_train"]), int(row["n_test"]), int(row["dim"])) == (n_train, n_test, dim)
    accuracy = float(row["test_accuracy"])
    assert float(printed) == pytest.approx(100 * accuracy, abs=0.006)
    for key in COLUMNS[12:18]:
        assert float(row[key]) >= 0, key
    assert float(row["peak_memory_mib"]) > 10
    assert float(row["ridge"]) in _features.RIDGES.tolist()
    path = read(out / f"{stem}_ridge.csv")
    assert [float(r["ridge"]) for r in path] == pytest.approx(_features.RIDGES.tolist())
    assert max(float(r["validation_accuracy"]) for r in path) == pytest.approx(
        float(row["validation_accuracy"])
    )
    for phase in ("load", "features train", "features test", "fit", "predict"):
        assert re.search(rf"^{phase}: \d+\.\d+ s", stdout, re.MULTILINE), phase
    assert "network: CNN(" in stdout and "preprocessing: " in stdout and "peak memory: " in stdout
    return row, accuracy


def test_the_studies_are_listed_with_hyphens(capsys):
    assert {"features_mnist", "features_cifar", "features_exact"} <= set(available())
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert "features-mnist" in usage and "features-cifar" in usage and "features-exact" in usage


def test_features_mnist_quick(mnist_like, tmp_path, capsys):
    out = tmp_path / "out"
    main(["features-mnist", "--out", str(out), "--quick", "--data", str(mnist_like)])
    stdout = capsys.readouterr().out
    # The final grid of 6×6 positions, 16 RF features each.
    row, accuracy = check_run(out, "features_mnist", stdout, 300, 100, 576)
    assert row["dataset"] == "mnist" and row["kind"] == "rf" and row["widths"] == "[(64, 0), (16, 0)]"
    assert "ZCA" not in row["preprocessing"]
    assert accuracy > 0.6  # chance: 0.1


def test_features_mnist_quick_with_the_ntk(mnist_like, tmp_path, capsys):
    out = tmp_path / "out"
    main(["features-mnist", "--out", str(out), "--quick", "--data", str(mnist_like), "--kind", "ntk"])
    row, accuracy = check_run(out, "features_mnist", capsys.readouterr().out, 300, 100, 576)
    assert row["kind"] == "ntk" and row["widths"] == "[(64, 256), (8, 8)]"
    assert accuracy > 0.6


def test_features_cifar_quick_through_the_command_line(cifar_like, tmp_path):
    # As users run it, the study's name with an underscore accepted too.
    out = tmp_path / "out"
    run = subprocess.run(
        [*STUDY, "features_cifar", "--out", str(out), "--quick", "--data", str(cifar_like), "--dim", "512"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    row, accuracy = check_run(out, "features_cifar", run.stdout, 300, 100, 512)
    assert row["dataset"] == "cifar10" and "ZCA whitening" in row["preprocessing"]
    # The final grid keeps 4×4 positions: 32 RF features per position.
    assert row["widths"].endswith("(32, 0)]")
    assert accuracy > 0.5


def test_features_cifar_without_zca(cifar_like, tmp_path, capsys):
    from ntk_rs.experiments import features_cifar

    row = features_cifar.run(
        tmp_path, dim=256, zca=False, n_train=200, n_test=50, data=cifar_like, progress=False
    )
    assert "ZCA" not in row["preprocessing"] and row["n_train"] == 200 and row["dim"] == 256
    assert row["test_accuracy"] > 0.3


def test_features_exact_quick(mnist_like, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    main(["features-exact", "--out", str(out), "--quick", "--data", str(mnist_like)])
    png = out / "features_exact.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < png.stat().st_size < 150_000
    rows = read(out / "features_exact.csv")
    assert [r["method"] for r in rows] == ["exact", "features", "features", "features"]
    assert [r["dim"] for r in rows] == ["", "256", "512", "1024"]
    exact = float(rows[0]["test_accuracy"])
    assert exact > 0.6
    errors = [float(r["kernel_error"]) for r in rows[1:]]
    assert 0 < errors[-1] < errors[0] < 0.5  # the Gram error falls with dim
    for r in rows[1:]:
        assert float(r["test_accuracy"]) > exact - 0.2
    # The demo's digits, its network: the same comparison.
    rows = read(out / "features_exact_digits.csv")
    assert [r["dim"] for r in rows] == ["", "256", "512", "1024"]
    assert float(rows[0]["test_accuracy"]) > 0.8
    assert (out / "features_exact_digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_data_file_is_named(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"nowhere/mnist\.npz not found.*--data DIR"):
        main(["features-mnist", "--out", str(tmp_path), "--quick", "--data", str(nowhere)])
    run = subprocess.run(
        [*STUDY, "features-cifar", "--out", str(tmp_path), "--quick", "--data", str(nowhere)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and "cifar10.npz not found" in run.stderr


def test_options_a_study_does_not_take_are_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["spectrum", "--out", str(tmp_path), "--quick", "--data", str(tmp_path)])
    assert exit.value.code == 2
    assert "--data: the study spectrum takes no such option" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["features-mnist", "--out", str(tmp_path), "--quick", "--no-zca"])
    assert exit.value.code == 2
    with pytest.raises(SystemExit) as exit:
        main(["features-mnist", "--out", str(tmp_path), "--dim", "0"])
    assert exit.value.code == 2
    assert "argument --dim: must be >= 1, got 0" in capsys.readouterr().err


def test_the_default_data_folder_is_beside_the_checkout():
    import ntk_rs

    checkout = Path(__file__).resolve().parents[1]
    if checkout not in Path(ntk_rs.__file__).resolve().parents:
        pytest.skip("ntk_rs is not imported from this checkout")
    assert _features.default_data_dir() == checkout.parent / "shared" / "data"


def test_feature_ridge_is_kernel_ridge_on_the_features():
    """The primal fit (FᵀF, eigendecomposition, refit) and the dual one on K = FFᵀ give the
    same validation path, the same chosen ridge and the same test scores."""
    rng = np.random.default_rng(1)
    F = rng.standard_normal((120, 40)) + 0.5
    F_test = rng.standard_normal((30, 40)) + 0.5
    w = rng.standard_normal((40, 4))
    Y = _features.one_hot((F @ w + rng.normal(0, 2, (120, 4))).argmax(axis=1), 4)
    primal = _features.feature_ridge(F.astype(np.float32), Y, F_test.astype(np.float32))
    F32, T32 = F.astype(np.float32).astype(np.float64), F_test.astype(np.float32).astype(np.float64)
    dual = _features.kernel_ridge(F32 @ F32.T, T32 @ F32.T, Y)
    np.testing.assert_allclose(primal.validation_mse, dual.validation_mse, rtol=1e-6)
    np.testing.assert_array_equal(primal.validation_accuracy, dual.validation_accuracy)
    assert primal.chosen == dual.chosen
    np.testing.assert_allclose(primal.scores, dual.scores, rtol=1e-6, atol=1e-8)
    # Against a direct solve with the intercept: centered features, the chosen ridge.
    mu, ybar = F32.mean(axis=0), Y.mean(axis=0)
    Fc = F32 - mu
    lam = primal.ridge * np.trace(Fc.T @ Fc) / len(F)
    beta = np.linalg.solve(Fc.T @ Fc + lam * np.eye(40), Fc.T @ (Y - ybar))
    np.testing.assert_allclose(primal.scores, (T32 - mu) @ beta + ybar, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n", [30, 100])  # fewer images than pixels (the dual), and more
def test_zca_whitens_with_a_floor(n):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, 4, 4, 3)) @ rng.standard_normal((3, 3))
    mu, W = _features.zca_fit(x)
    X = x.reshape(n, -1)
    C = np.cov(X, rowvar=False, bias=True)
    values, U = np.linalg.eigh(C)
    values = np.maximum(values, 0)
    eps = _features.ZCA_REG * values.sum() / X.shape[1]
    np.testing.assert_allclose(mu, X.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(W, (U / np.sqrt(values + eps)) @ U.T, atol=1e-10)
    # Whitened covariance: eigenvalues λ / (λ + ε), below 1.
    whitened = np.cov((X - mu) @ W, rowvar=False, bias=True)
    assert np.linalg.eigvalsh(whitened).max() < 1


def test_features_mnist_on_the_real_data(data_dir, tmp_path, capsys):
    if not (data_dir / "mnist.npz").is_file():
        pytest.skip("../shared/data/mnist.npz is not present")
    from ntk_rs.experiments import features_mnist

    # Half the quick run's images, to stay within the tests' time on two busy cores.
    features_mnist.run(tmp_path, dim=576, n_train=1000, n_test=300, data=data_dir, progress=False)
    _, accuracy = check_run(tmp_path, "features_mnist", capsys.readouterr().out, 1000, 300, 576)
    assert accuracy > 0.9


def test_moments_added_in_chunks_are_the_moments_of_all_rows(monkeypatch):
    """The studies stream: each chunk of features goes into the Gram as it comes. Any split
    into chunks (and any CHUNK, which also splits the Gram's row blocks) gives the moments
    of the whole, so the fit of streamed features is the fit of the held array."""
    rng = np.random.default_rng(2)
    F = rng.standard_normal((50, 13)).astype(np.float32)
    Y = _features.one_hot(rng.integers(0, 3, 50), 3)
    whole = _features._Moments(13, 3)
    whole.add(F, Y)
    monkeypatch.setattr(_features, "CHUNK", 4)
    parts = _features._Moments(13, 3)
    for i, j in ((0, 7), (7, 8), (8, 31), (31, 50)):
        parts.add(F[i:j], Y[i:j])
    F64 = F.astype(np.float64)
    np.testing.assert_allclose(whole.S, F64.T @ F64, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(parts.S, whole.S, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(parts.T, whole.T, rtol=1e-12)
    np.testing.assert_allclose(parts.f, whole.f, rtol=1e-12)
    assert parts.n == whole.n == 50 and np.array_equal(parts.y, whole.y)


def test_virtual_examples_are_the_images_moved_one_pixel():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 255, (7, 5, 6, 1)).astype(np.uint8)
    virtual = _features.Virtual(x, 2, seed=4)
    assert len(virtual) == 21
    rows = np.concatenate([virtual[i : i + 4] for i in range(0, 21, 4)])
    np.testing.assert_array_equal(rows[:7], x)
    for k in (1, 2):
        for i in range(7):
            dy, dx = _features.STEPS[virtual.directions[i, k - 1]]
            moved = rows[7 * k + i]
            # Every pixel moved by (dy, dx); the uncovered row and column are zero.
            for u in range(5):
                for v in range(6):
                    inside = 0 <= u - dy < 5 and 0 <= v - dx < 6
                    assert moved[u, v, 0] == (x[i, u - dy, v - dx, 0] if inside else 0)
    assert set(map(tuple, _features.STEPS[virtual.directions.ravel()])) <= {
        (a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b
    }


def test_features_mnist_with_virtual_examples(mnist_like, tmp_path, capsys):
    from ntk_rs.experiments import features_mnist

    row = features_mnist.run(
        tmp_path,
        widths=features_mnist.QUICK_WIDTHS["rf"],
        virtual=2,
        n_train=100,
        n_test=50,
        data=mnist_like,
        progress=False,
    )
    stdout = capsys.readouterr().out
    assert (
        row["virtual"] == 2
        and "virtual examples: 2 one-pixel translation(s) of each of the 90 fitted" in stdout
    )
    assert row["test_accuracy"] > 0.5


@pytest.mark.parametrize("virtual", [-1, 1.5, True, "2"])
def test_a_bad_count_of_virtual_examples_is_named(mnist_like, tmp_path, virtual):
    from ntk_rs.experiments import features_mnist

    with pytest.raises(ValueError, match=r"virtual must be a count of copies \(an int >= 0\), got"):
        features_mnist.run(tmp_path, virtual=virtual, n_train=50, n_test=20, data=mnist_like, progress=False)
    assert not (tmp_path / "features_mnist.csv").exists()


def test_the_streamed_fit_of_a_study_is_the_fit_of_its_held_features(mnist_like, tmp_path, capsys):
    """``run`` never holds the fitted images' features; the same images' features held in
    one array and fitted by ``feature_ridge`` give the same ridge, validation path and
    test accuracy."""
    from ntk_rs.experiments import features_mnist

    widths = features_mnist.QUICK_WIDTHS["rf"]
    row = features_mnist.run(
        tmp_path, widths=widths, virtual=0, n_train=200, n_test=80, data=mnist_like, progress=False
    )
    x_train, y_train, x_test, y_test = _features.load(mnist_like, "mnist.npz")
    x_train, y_train = _features.subset(x_train, y_train, 200, 0)
    x_test, y_test = _features.subset(x_test, y_test, 80, 1)
    n_fit, _ = _features.split(200)
    prep = _features.fit_preprocess(x_train[:n_fit], _features.MNIST.scale)
    fm = features_mnist.NET.feature_map(None, kind="rf", seed=0, input_shape=x_train.shape[1:], widths=widths)
    F, F_test = _features.transform(fm, x_train, prep), _features.transform(fm, x_test, prep)
    fit = _features.feature_ridge(F, _features.one_hot(y_train, 10), F_test)
    path = read(tmp_path / "features_mnist_ridge.csv")
    np.testing.assert_allclose([float(r["validation_mse"]) for r in path], fit.validation_mse, rtol=1e-9)
    assert row["ridge"] == fit.ridge
    assert row["test_accuracy"] == float((fit.scores.argmax(axis=1) == y_test).mean())
