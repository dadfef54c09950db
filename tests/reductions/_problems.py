"""Random mixture problems shared by the reduction tests."""

import numpy as np


def random_mixture(rng, n_queries, n_centers, n_features, n_values=2):
    """Queries, centers, normalized log-weights and per-center values, drawn from ``rng``.

    Queries and centers sit away from the origin, where the engine's centring guards the
    ``|x|^2 - 2 x.z + |z|^2`` expansion against cancellation.
    """
    x = rng.normal(size=(n_queries, n_features)) + 5.0
    z = rng.normal(size=(n_centers, n_features)) + 5.0
    log_w = rng.normal(size=n_centers)
    log_w -= np.log(np.exp(log_w).sum())
    return x, z, log_w, rng.normal(size=(n_centers, n_values))
