"""Tests of the local covariances and their low-rank factors against dense references."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from wpokernel.local_covariance import local_covariances, local_factors, local_variances


def _differences_by_brute_force(X, center_index, n_neighbors):
    """D_k of each center, its neighbours found by sorting every distance, (K, m, d)."""
    distances = cdist(X[center_index], X)
    distances[np.arange(len(center_index)), center_index] = np.inf
    neighbors = np.argsort(distances, axis=1)[:, :n_neighbors]
    return X[neighbors] - X[center_index][:, None, :]


def _dense_top(covariances, rank):
    """Top-rank eigenvalues and the matrices sum_l lambda_l v_l v_l^T, by numpy's eigh."""
    eigenvalues, vectors = np.linalg.eigh(covariances)
    top_values, top_vectors = eigenvalues[:, ::-1][:, :rank], vectors[:, :, ::-1][:, :, :rank]
    return top_values, np.einsum("kdr,kr,ker->kde", top_vectors, top_values, top_vectors)


@pytest.mark.parametrize(
    ("n_features", "n_neighbors", "rank"),
    [(6, 10, 1), (6, 10, 3), (6, 10, 6), (12, 5, 2), (12, 5, 5)],
)
def test_factors_match_the_eigendecomposition_of_the_dense_covariances(
    n_features, n_neighbors, rank
):
    # Same top-r eigenvalues, the same top-r part F F^T = V_r diag(lambda) V_r^T (a check of
    # the subspace that does not depend on eigenvector signs) and the trace that is left.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, n_features)) * np.linspace(0.5, 2.0, n_features)
    center_index = np.array([0, 7, 31, 59])
    covariances = local_covariances(X, center_index, n_neighbors)
    local = local_factors(X, center_index, n_neighbors, rank)
    top_values, top_part = _dense_top(covariances, rank)
    scale = top_values[:, :1]
    np.testing.assert_allclose(local.eigenvalues / scale, top_values / scale, rtol=0, atol=1e-12)
    factor_part = np.einsum("kdr,ker->kde", local.factors, local.factors)
    np.testing.assert_allclose(factor_part / scale[:, :, None], top_part / scale[:, :, None],
                               rtol=0, atol=1e-10)
    trace = np.trace(covariances, axis1=1, axis2=2)
    np.testing.assert_allclose(local.residual, trace - top_values.sum(axis=1),
                               rtol=0, atol=1e-12 * trace.max())
    assert np.all(np.diff(local.eigenvalues, axis=1) <= 0)


def test_full_rank_factors_rebuild_the_covariance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 8))
    center_index = np.arange(0, 50, 5)
    local = local_factors(X, center_index, 5, 5)
    np.testing.assert_allclose(np.einsum("kdr,ker->kde", local.factors, local.factors),
                               local_covariances(X, center_index, 5), rtol=0, atol=1e-12)
    np.testing.assert_allclose(local.residual, 0.0, atol=1e-12)


def test_high_dimensional_factors_solve_the_eigen_equation_without_dense_matrices():
    # In 784-d the covariance is never formed: C F = D^T (D F) / m must equal F diag(lambda),
    # F^T F = diag(lambda), and lambda_1 + ... + lambda_r + residual = |D|_F^2 / m.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 784)) + 0.01 * rng.normal(size=(300, 784))
    center_index, n_neighbors, rank = np.array([3, 100, 250]), 40, 10
    local = local_factors(X, center_index, n_neighbors, rank)
    D = _differences_by_brute_force(X, center_index, n_neighbors)  # (K, m, d)
    C_F = np.einsum("kmd,kmr->kdr", D, np.einsum("kmd,kdr->kmr", D, local.factors)) / n_neighbors
    scale = local.eigenvalues[:, 0][:, None, None]
    np.testing.assert_allclose(C_F / scale, local.factors * local.eigenvalues[:, None, :] / scale,
                               rtol=0, atol=1e-10)
    gram = np.einsum("kdr,kds->krs", local.factors, local.factors)
    np.testing.assert_allclose(gram / scale, np.apply_along_axis(np.diag, 1, local.eigenvalues)
                               / scale, rtol=0, atol=1e-10)
    np.testing.assert_allclose(local.eigenvalues.sum(axis=1) + local.residual,
                               np.einsum("kmd,kmd->k", D, D) / n_neighbors, rtol=1e-12)


def test_blocks_of_centers_do_not_change_the_factors():
    # 1e-4 MiB is less than one center's differences: every center is its own block.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 30))
    center_index = np.arange(0, 80, 3)
    whole = local_factors(X, center_index, 12, 4)
    blocked = local_factors(X, center_index, 12, 4, working_memory=1e-4)
    for a, b in zip(whole, blocked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_dtype_follows_floating_input():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 20))
    local32 = local_factors(X.astype(np.float32), np.arange(5), 8, 3)
    assert all(part.dtype == np.float32 for part in local32)
    local64 = local_factors(X, np.arange(5), 8, 3)
    np.testing.assert_allclose(local32.eigenvalues, local64.eigenvalues, rtol=1e-4)
    assert local_factors(np.round(10 * X).astype(int), [0, 1], 8, 3).factors.dtype == np.float64


def test_a_wider_neighbour_search_serves_a_smaller_neighbourhood():
    from wpokernel.local_covariance import local_neighbors
    rng = np.random.default_rng(6)
    X = rng.normal(size=(70, 15))
    centers = np.arange(0, 70, 3)
    wide = local_neighbors(X, centers, 20)
    direct = local_factors(X, centers, 8, 3)
    reused = local_factors(X, centers, 8, 3, neighbors=wide, working_memory=1e-3)
    # The same neighbourhoods, perhaps in another order: the same covariance parts (a
    # column's sign is arbitrary).
    np.testing.assert_allclose(reused.eigenvalues, direct.eigenvalues, rtol=1e-12)
    np.testing.assert_allclose(reused.residual, direct.residual, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reused.factors @ reused.factors.transpose(0, 2, 1),
                               direct.factors @ direct.factors.transpose(0, 2, 1), atol=1e-12)
    with pytest.raises(ValueError, match=r"Expected neighbors of shape \(24, >= 8\), got \(24, 5\)"):
        local_factors(X, centers, 8, 3, neighbors=wide[:, :5])
    # The dense statistics take the same wider search.
    np.testing.assert_allclose(local_covariances(X, centers, 8, neighbors=wide),
                               local_covariances(X, centers, 8), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(local_variances(X, centers, 8, neighbors=wide),
                               local_variances(X, centers, 8), rtol=1e-12, atol=1e-14)


def test_factors_stored_in_float32_are_the_float64_ones_rounded():
    # Computed in float64 a block at a time, only then rounded: exactly the rounded values.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 25))
    local64 = local_factors(X, np.arange(0, 60, 2), 10, 4)
    local32 = local_factors(X, np.arange(0, 60, 2), 10, 4, dtype=np.float32,
                            working_memory=1e-4)
    assert local32.factors.dtype == np.float32 and local32.eigenvalues.dtype == np.float64
    np.testing.assert_array_equal(local32.factors, local64.factors.astype(np.float32))
    with pytest.raises(ValueError, match="Expected a floating dtype for the factors, got int64"):
        local_factors(X, [0, 1], 10, 4, dtype=np.int64)


@pytest.mark.parametrize(
    ("n_features", "n_neighbors", "rank", "match"),
    [
        (10, 4, 5, r"Expected 1 <= rank <= 4 = min\(n_neighbors, n_features\), the rank of a "
                   r"covariance of 4 differences in 10 dimensions, got rank=5"),
        (3, 10, 4, r"Expected 1 <= rank <= 3 = min\(n_neighbors, n_features\), the rank of a "
                   r"covariance of 10 differences in 3 dimensions, got rank=4"),
        (3, 10, 0, r"Expected 1 <= rank <= 3 .*got rank=0"),
        (3, 10, 2.0, r"Expected rank to be an int, got 2.0"),
    ],
)
def test_rank_above_the_neighbourhood_or_the_dimension_is_refused(
    n_features, n_neighbors, rank, match
):
    X = np.random.default_rng(5).normal(size=(20, n_features))
    with pytest.raises(ValueError, match=match):
        local_factors(X, np.arange(3), n_neighbors, rank)


@pytest.mark.parametrize("n_neighbors", [0, 20, True])
def test_bad_n_neighbors_raises(n_neighbors):
    X = np.random.default_rng(6).normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"Expected (1 <= n_neighbors <= 19 = n_samples - 1|"
                                         r"n_neighbors to be an int)"):
        local_factors(X, np.arange(3), n_neighbors, 1)
