"""Slow, obviously-correct dense references: explicit loops over components with
``scipy.stats.multivariate_normal`` and dense ``d x d`` matrices."""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal


def dense_covariances(covariance, n_centers, n_features):
    """The ``(N, d, d)`` matrices a structure stands for, built the naive way."""
    name = type(covariance).__name__
    a = covariance.added_variance
    eye = np.eye(n_features)
    if name == "Isotropic":
        var = np.broadcast_to(np.asarray(covariance.variance, float), (n_centers,))
        return np.stack([(v + a) * eye for v in var])
    if name == "Diagonal":
        return np.stack([np.diag(v + a) for v in np.asarray(covariance.variances)])
    if name in ("DiagonalLowRank", "ScaledLowRank"):
        var = np.broadcast_to(np.asarray(covariance.variance, float), (n_centers,))
        # A profile shared by every center, or one per center.
        profiles = np.broadcast_to(np.asarray(covariance.profile, float), (n_centers, n_features))
        U = np.asarray(covariance.factors, float)
        if name == "ScaledLowRank":
            U = np.stack([u * h for u, h in zip(U, np.asarray(covariance.column_scales))])
        return np.stack([np.diag(v * f + a) + u @ u.T for v, f, u in zip(var, profiles, U)])
    if name == "LowRank":
        var = np.broadcast_to(np.asarray(covariance.variance, float), (n_centers,))
        U = np.asarray(covariance.factors)
        return np.stack([(v + a) * eye + u @ u.T for v, u in zip(var, U)])
    return np.asarray(covariance.covariances) + a * eye


def mixture_moments_loop(x, centers, covs, log_weights=None, values=None):
    """log p, D = sum w P (x - z), L = sum w (|P(x - z)|^2 - tr P), V = sum w v by loops."""
    n = len(centers)
    log_weights = np.full(n, -np.log(n)) if log_weights is None else log_weights
    logk = np.stack([log_weights[j] + multivariate_normal(centers[j], covs[j]).logpdf(x).reshape(-1)
                     for j in range(n)], axis=1)  # (M, N)
    logp = logsumexp(logk, axis=1)
    w = np.exp(logk - logp[:, None])
    precisions = np.linalg.inv(covs)
    disp = np.zeros_like(x)
    lap = np.zeros(len(x))
    for j in range(n):
        pd = (x - centers[j]) @ precisions[j].T
        disp += w[:, j:j + 1] * pd
        lap += w[:, j] * (np.sum(pd ** 2, 1) - np.trace(precisions[j]))
    vals = None if values is None else w @ values
    return logp, disp, lap, vals


def data_spread(X, weight=None):
    """Weighted mean and root-mean-square standard deviation of the features, the direct way."""
    weight = np.ones(len(X)) if weight is None else np.asarray(weight, float)
    mean = np.average(X, axis=0, weights=weight)
    return mean, float(np.sqrt(np.average((X - mean) ** 2, axis=0, weights=weight).mean()))


def in_data_units(model, U):
    """Points of a fitted model's standardized coordinates, in the data's units."""
    return model.mean_ + model.scale_ * U
