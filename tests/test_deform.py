"""ntk_rs.deform: deformations, translations, smooth random fields."""

import sys

import numpy as np
import pytest

from ntk_rs import deform


def batch(n=2, H=10, W=12, c=3, seed=0):
    return np.random.default_rng(seed).random((n, H, W, c))


def affine_field(A, H, W):
    """τ(u) = A u on the pixel grid, shape (H, W, 2)."""
    u = np.stack(np.meshgrid(np.arange(H), np.arange(W), indexing="ij"), axis=-1).astype(float)
    return u @ np.asarray(A, dtype=float).T


def test_integer_translation_moves_content_by_the_shift():
    X = batch()
    got = deform.translate(X, (2, -1))
    want = np.zeros_like(X)
    want[:, 2:, :-1] = X[:, :-2, 1:]  # x(u − s): content moves down 2 rows, left 1 column
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_zero_field_is_the_identity():
    X = batch()
    for order in (0, 1, 3, 5):
        np.testing.assert_allclose(deform.deform(X, np.zeros((10, 12, 2)), order=order), X, atol=1e-12)


def test_bilinear_interpolation_of_a_linear_image_is_exact():
    # x(u) = a·u + b; with an affine field L_τ x(u) = a·(u − A u) + b, exact for order 1
    # wherever u − A u stays inside the grid.
    H, W = 16, 16
    a, b = np.array([0.7, -0.3]), 2.0
    field = affine_field([[0.05, 0.02], [-0.03, 0.04]], H, W)
    u = affine_field(np.eye(2), H, W)
    X = (u @ a + b)[None, :, :, None]
    got = deform.deform(X, field, order=1)[0, :, :, 0]
    source = u - field
    inside = ((source >= 0) & (source <= [H - 1, W - 1])).all(axis=-1)
    assert inside.mean() > 0.8
    np.testing.assert_allclose(got[inside], source[inside] @ a + b, rtol=1e-13)


def test_per_image_fields():
    X = batch(3)
    fields = deform.random_fields(3, (10, 12), 0.2, seed=1)
    got = deform.deform(X, fields)
    for i in range(3):
        np.testing.assert_array_equal(got[i], deform.deform(X[i : i + 1], fields[i])[0])
    assert not np.allclose(got[0], deform.deform(X[:1], fields[1])[0])


def test_gradient_norm_of_affine_fields():
    # The Jacobian of τ(u) = A u is A everywhere: ‖∇τ‖∞ = largest singular value of A.
    rotation = np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]])
    assert deform.gradient_norm(affine_field(0.3 * rotation, 8, 9)) == pytest.approx(0.3, rel=1e-13)
    assert deform.gradient_norm(affine_field([[0.1, 0], [0, -0.25]], 8, 9)) == pytest.approx(0.25, rel=1e-13)
    fields = np.stack([affine_field(np.eye(2) * s, 5, 5) for s in (0.1, 0.2)])
    np.testing.assert_allclose(deform.gradient_norm(fields), [0.1, 0.2], rtol=1e-13)


def test_random_fields():
    f = deform.random_fields(4, (20, 16), 0.3, seed=7)
    assert f.shape == (4, 20, 16, 2)
    np.testing.assert_allclose(deform.gradient_norm(f), 0.3, rtol=1e-12)
    np.testing.assert_array_equal(f, deform.random_fields(4, (20, 16), 0.3, seed=7))
    assert not np.allclose(f, deform.random_fields(4, (20, 16), 0.3, seed=8))
    assert (deform.random_fields(2, (5, 5), 0.0, seed=0) == 0).all()
    # At a fixed gradient bound, a longer correlation length moves pixels further.
    short = np.abs(deform.random_fields(8, (32, 32), 0.1, scale=1.0, seed=0)).max()
    long = np.abs(deform.random_fields(8, (32, 32), 0.1, scale=6.0, seed=0)).max()
    assert long > 2 * short


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: deform.deform(np.ones((2, 5, 5)), np.zeros((5, 5, 2))), ValueError, "batch of 2-D images"),
        (lambda: deform.deform(batch(), np.zeros((10, 11, 2))), ValueError, "tau must have shape"),
        (lambda: deform.deform(batch(), np.full((10, 12, 2), np.nan)), ValueError, "tau contains NaN"),
        (lambda: deform.deform(batch(), [["a"]]), TypeError, "tau must be a real array"),
        (lambda: deform.deform(batch(), np.zeros((10, 12, 2)), order=7), ValueError, "order must be"),
        (
            lambda: deform.deform(batch(), np.zeros((10, 12, 2)), mode="edge"),
            ValueError,
            "mode must be one of",
        ),
        (
            lambda: deform.deform(np.full((1, 4, 4, 1), np.inf), np.zeros((4, 4, 2))),
            ValueError,
            "X contains NaN",
        ),
        (lambda: deform.translate(batch(), (1, 2, 3)), ValueError, "shift must be a finite pair"),
        (lambda: deform.translate(batch(), "up"), TypeError, "shift must be a pair"),
        (lambda: deform.gradient_norm(np.zeros((5, 5, 3))), ValueError, "tau must have shape"),
        (lambda: deform.gradient_norm([["x", "y"]]), TypeError, "tau must be a real array"),
        (lambda: deform.gradient_norm(np.full((4, 4, 2), np.nan)), ValueError, "tau contains NaN"),
        (lambda: deform.random_fields(0, (5, 5), 0.1), ValueError, "n must be >= 1"),
        (lambda: deform.random_fields(2.0, (5, 5), 0.1), TypeError, "n must be an integer"),
        (lambda: deform.random_fields(1, (5,), 0.1), ValueError, "shape must be a pair"),
        (lambda: deform.random_fields(1, (5, 5), -0.1), ValueError, "max_grad must be >= 0"),
        (lambda: deform.random_fields(1, (5, 5), float("nan")), ValueError, "max_grad must be a finite"),
        (lambda: deform.random_fields(1, (5, 5), 0.1, scale=0), ValueError, "scale must be > 0"),
    ],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_without_scipy_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    with pytest.raises(ImportError, match=r"pip install 'ntk_rs\[theory\]'"):
        deform.translate(batch(), (1, 0))
