"""Two-sample testing helpers for distributional tests."""

import numpy as np
from scipy.spatial.distance import cdist


def energy_permutation_pvalue(X, Y, n_permutations=300, random_state=0):
    r"""Permutation p-value of the energy statistic
    :math:`2 E|X - Y| - E|X - X'| - E|Y - Y'|` (V-statistic), from one pooled distance matrix."""
    pooled = np.concatenate([X, Y])
    dist = cdist(pooled, pooled)
    n = len(X)
    rng = np.random.default_rng(random_state)

    def statistic(idx):
        a, b = idx[:n], idx[n:]
        return 2 * dist[np.ix_(a, b)].mean() - dist[np.ix_(a, a)].mean() - dist[np.ix_(b, b)].mean()

    observed = statistic(np.arange(len(pooled)))
    null = np.array([statistic(rng.permutation(len(pooled))) for _ in range(n_permutations)])
    return (1 + np.sum(null >= observed)) / (1 + n_permutations)
