"""Linear CKA: hand values, invariances, the debiased estimator and the layer × layer matrix."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.similarity import cka_matrix, flatten_features, identification_accuracy, linear_cka


def _orthogonal(p: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(p, p)))
    return q * np.sign(np.diag(r))


def test_hand_computed_one_feature_case_is_squared_correlation():
    x = np.array([[1.0], [2.0], [3.0]])  # centred: (−1, 0, 1)
    y = np.array([[1.0], [0.0], [2.0]])  # centred: (0, −1, 1)
    # (xᵀy)² / (xᵀx · yᵀy) = 1² / (2·2)
    assert linear_cka(x, y) == pytest.approx(0.25)
    assert linear_cka(x, y) == pytest.approx(np.corrcoef(x[:, 0], y[:, 0])[0, 1] ** 2)


@pytest.mark.parametrize("shape", [(60, 8), (12, 40)])  # feature-space and Gram-space paths
def test_cka_with_itself_is_one(shape):
    x = np.random.default_rng(0).normal(size=shape)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x, debiased=True) == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(60, 8), (12, 40)])
def test_invariant_to_orthogonal_transform_and_isotropic_scaling(shape):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    y = x[:, :5] @ rng.normal(size=(5, 6)) + rng.normal(size=(shape[0], 6))
    q = _orthogonal(shape[1], rng)
    for debiased in (False, True):
        reference = linear_cka(x, y, debiased)
        assert linear_cka(x @ q, y, debiased) == pytest.approx(reference)
        assert linear_cka(3.7 * x, y, debiased) == pytest.approx(reference)
        assert linear_cka(x + 5.0, 0.01 * y, debiased) == pytest.approx(reference)  # offsets are centred away


def test_not_invariant_to_non_isotropic_scaling():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 6))
    y = x[:, :2] + 0.1 * rng.normal(size=(80, 2))
    stretched = x * np.array([1.0, 1.0, 30.0, 30.0, 30.0, 30.0])  # inflates the features y does not use
    assert linear_cka(x, stretched) < 0.99
    assert linear_cka(stretched, y) < linear_cka(x, y) - 0.1


def test_debiased_close_to_biased_for_many_examples():
    rng = np.random.default_rng(3)
    n = 2000
    x = rng.normal(size=(n, 5))
    y = x @ rng.normal(size=(5, 4)) + rng.normal(size=(n, 4))
    biased, debiased = linear_cka(x, y), linear_cka(x, y, debiased=True)
    assert 0.2 < biased < 0.95
    assert debiased == pytest.approx(biased, abs=0.01)


def test_debiased_removes_the_high_dimension_bias():
    # Independent wide representations of few examples: biased CKA is large, debiased near 0.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 1000)), rng.normal(size=(100, 1000))
    assert linear_cka(x, y) > 0.5
    assert abs(linear_cka(x, y, debiased=True)) < 0.1


def _song_unbiased_hsic(gram_k: np.ndarray, gram_l: np.ndarray) -> float:
    """Song et al. 2012, eq. 5, written out: zero-diagonal Grams, three terms over n(n−3)."""
    n = gram_k.shape[0]
    k, l = gram_k - np.diag(np.diag(gram_k)), gram_l - np.diag(np.diag(gram_l))  # noqa: E741 - the paper's K, L
    ones = np.ones(n)
    return (
        np.trace(k @ l)
        + (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * ones @ k @ l @ ones
    ) / (n * (n - 3))


def test_debiased_matches_the_unbiased_hsic_formula():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(9, 3))
    y = x @ rng.normal(size=(3, 2)) + rng.normal(size=(9, 2)) + 4.0  # uncentred on purpose
    k, l = x @ x.T, y @ y.T  # noqa: E741 - the Gram matrices K, L of Song et al.
    expected = _song_unbiased_hsic(k, l) / np.sqrt(_song_unbiased_hsic(k, k) * _song_unbiased_hsic(l, l))
    assert linear_cka(x, y, debiased=True) == pytest.approx(expected, abs=1e-12)


def test_constant_features_give_zero_not_nan():
    rng = np.random.default_rng(5)
    constant = np.full((10, 3), 0.1)  # 0.1 is not a binary fraction: its mean can miss by an ulp
    y = rng.normal(size=(10, 4))
    for debiased in (False, True):
        assert linear_cka(constant, y, debiased) == 0.0
        assert linear_cka(y, constant, debiased) == 0.0
        assert linear_cka(constant, constant, debiased) == 0.0
    matrix = cka_matrix([y, constant])
    np.testing.assert_array_equal(matrix, [[1.0, 0.0], [0.0, 0.0]])


def test_input_checks():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="4 examples"):
        linear_cka(x, x + np.arange(3.0)[:, None], debiased=True)
    with pytest.raises(ValueError, match="flatten_features"):
        linear_cka(np.zeros((3, 2, 2, 2)), x)
    with pytest.raises(ValueError, match="same examples"):
        cka_matrix([x, np.zeros((4, 2))])
    with pytest.raises(ValueError, match="method"):
        cka_matrix([x], method="svd")


def _layers(rng: np.random.Generator, n: int = 40, widths=(6, 30, 70)) -> list[np.ndarray]:
    """Layers that share a signal, so their CKA values are spread out."""
    base = rng.normal(size=(n, 4))
    return [np.hstack([base @ rng.normal(size=(4, p // 2)), rng.normal(size=(n, p - p // 2))]) for p in widths]


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matrix_is_symmetric_with_unit_diagonal_and_matches_pairs(debiased):
    layers = _layers(np.random.default_rng(6))
    matrix = cka_matrix(layers, debiased=debiased)
    assert matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    for i in range(3):
        for j in range(3):
            if i != j:
                assert matrix[i, j] == pytest.approx(linear_cka(layers[i], layers[j], debiased))


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matrix_gram_and_feature_methods_agree(debiased):
    rng = np.random.default_rng(7)
    layers_a, layers_b = _layers(rng), _layers(rng, widths=(10, 90))
    for b in (None, layers_b):
        gram = cka_matrix(layers_a, b, debiased, method="gram")
        features = cka_matrix(layers_a, b, debiased, method="features")
        auto = cka_matrix(layers_a, b, debiased)
        np.testing.assert_allclose(gram, features, atol=1e-10)
        np.testing.assert_allclose(auto, gram, atol=1e-10)


def test_cka_matrix_across_two_models():
    rng = np.random.default_rng(8)
    layers_a, layers_b = _layers(rng), _layers(rng, widths=(10, 90))
    matrix = cka_matrix(layers_a, layers_b)
    assert matrix.shape == (3, 2)
    expected = [[linear_cka(a, b) for b in layers_b] for a in layers_a]
    np.testing.assert_allclose(matrix, expected)
    assert cka_matrix([], layers_b).shape == (0, 2)


def test_flatten_features():
    activations = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    flat = flatten_features(activations)
    assert flat.shape == (2, 12)
    np.testing.assert_array_equal(flat[1], np.arange(12, 24))  # channel-major, as torch's flatten
    mean = flatten_features(activations, spatial="mean")
    np.testing.assert_array_equal(mean, [[1.5, 5.5, 9.5], [13.5, 17.5, 21.5]])
    fc = np.ones((2, 5))
    assert flatten_features(fc) is fc
    with pytest.raises(ValueError, match="spatial"):
        flatten_features(activations, spatial="max")
    with pytest.raises(ValueError):
        flatten_features(np.zeros((2, 3, 4)))


def test_cka_from_grams_matches_features():
    from analysis.statistics.similarity import cka_from_grams

    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 7)) + 2.0  # offsets must not matter: the Gram is centred
    y = x @ rng.normal(size=(7, 5)) + rng.normal(size=(40, 5)) * 0.5
    const = np.ones((40, 3))
    grams = [f @ f.T for f in (x, y, const)]
    for debiased in (False, True):
        expected = cka_matrix([x, y, const], debiased=debiased)
        assert np.allclose(cka_from_grams(grams, debiased=debiased), expected, atol=1e-9)
        cross = cka_from_grams(grams[:2], grams[1:], debiased=debiased)
        assert np.allclose(cross, cka_matrix([x, y], [y, const], debiased=debiased), atol=1e-9)


# ------------------------------------------------------------------------------ layer identification


def test_identification_accuracy_on_hand_made_matrices():
    # Every layer most similar to its own counterpart, both ways: all identified.
    assert identification_accuracy(np.eye(4) * 0.5 + 0.4) == 1.0
    # Layers 0 and 1 of A both look most like layer 1 of B; column 0's best is row 0 still.
    cka = np.array(
        [
            [0.6, 0.9, 0.1],
            [0.5, 0.95, 0.2],
            [0.1, 0.2, 0.8],
        ]
    )
    # Rows: 0 missed, 1 and 2 found. Columns: 0 (best at row 0) found, 1 (best at row 1), 2 found: 5 of 6.
    assert identification_accuracy(cka) == pytest.approx(5 / 6)
    # Without the logits (the last layer) only the 2×2 block counts: rows 1 of 2, columns 2 of 2.
    assert identification_accuracy(cka, include_logits=False) == pytest.approx(3 / 4)


def test_identification_accuracy_ties_nans_and_shapes():
    # A tie for the largest identifies nothing; a NaN counts as no similarity.
    assert identification_accuracy(np.full((2, 2), 0.7)) == 0.0
    assert identification_accuracy(np.array([[np.nan, 0.2], [0.1, 0.9]])) == pytest.approx(2 / 4)
    assert identification_accuracy(np.ones((2, 3))) is None  # different architectures: no counterparts
    assert identification_accuracy(np.ones((1, 1)), include_logits=False) is None
    assert identification_accuracy(np.ones((1, 1))) == 1.0
