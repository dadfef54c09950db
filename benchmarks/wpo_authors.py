#!/usr/bin/env python
r"""The WPO kernel model in its authors' formulation [ZLLKO2024]_, a peer for the benchmarks.

Written from the paper's description, to measure the package's training step against:

* centers :math:`z_1, \dots, z_K`, training points;
* a multilayer perceptron :math:`f_\theta : \mathbb R^d \to \mathbb R^{d(d+1)/2}` of the
  center (``depth`` hidden layers of ``width`` units, GELU activations) whose output fills
  a lower-triangular matrix :math:`L_\theta(z_k)` row by row;
* a dense precision per center and the equally weighted mixture

  .. math::

      P_k = L_\theta(z_k) L_\theta(z_k)^\top + \epsilon I_d, \qquad
      \pi_\theta(x) = \frac1K \sum_{k=1}^{K} \mathcal N(x;\, z_k,\, P_k^{-1}),
      \qquad \epsilon = 0.01;

* implicit score matching [Hyv2005]_ at a fresh minibatch of :math:`B` training points that
  are not centers, in the package's convention
  (:func:`wpokernel.objectives.implicit_score_matching`),

  .. math::

      J = \frac1B \sum_{i=1}^{B} \Bigl[\tfrac12 |\nabla \log \pi_\theta(x_i)|^2
      + \Delta \log \pi_\theta(x_i)\Bigr]
      = \frac1B \sum_{i=1}^{B} \Bigl[\sum_k w_{ik} \bigl(|g_{ik}|^2 - \operatorname{tr} P_k\bigr)
      - \tfrac12 \Bigl|\sum_k w_{ik} g_{ik}\Bigr|^2\Bigr],

  with :math:`g_{ik} = P_k (x_i - z_k)` and
  :math:`w_{ik} = \operatorname{softmax}_k \log \mathcal N(x_i; z_k, P_k^{-1})`, since
  :math:`\nabla \log \pi = -\sum_k w_{ik} g_{ik}` and
  :math:`\Delta \log \pi = \sum_k w_{ik} (|g_{ik}|^2 - \operatorname{tr} P_k)
  - |\nabla \log \pi|^2`. (The paper's objective,
  :math:`2 \Delta \pi / \pi - |\nabla \log \pi|^2`, is :math:`2J`: the same minimizer.) The
  products :math:`g_{ik}` are formed densely, one :math:`d \times d` matrix-vector product
  per pair, a :math:`B \times K \times d \times d` broadcast as in the formulation;
* Adam with learning rate :math:`10^{-3}`.

Use: :func:`split_centers` draws the centers from the data and keeps the rest as the pool of
fresh points, :func:`build_model` makes the model, :func:`train` runs optimizer steps and
returns the wall time and loss of each, :func:`heldout_ism_loss` scores held-out points.
``python benchmarks/wpo_authors.py --help`` runs it on a 2-D toy or on random data.

References
----------
.. [ZLLKO2024] B. J. Zhang, S. Liu, W. Li, M. A. Katsoulakis, S. J. Osher, "Wasserstein
   proximal operators describe score-based generative models and resolve memorization",
   arXiv:2402.06162, 2024.
.. [Hyv2005] A. Hyvärinen, "Estimation of Non-Normalized Statistical Models by Score
   Matching", Journal of Machine Learning Research 6, 695-709, 2005.
"""

import argparse
import math
import time
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

DEFAULT_DEPTH = 5
DEFAULT_WIDTH = 64
DEFAULT_FLOOR = 0.01
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 1e-3


class CholeskyMixture(nn.Module):
    r"""Centers, a Cholesky-factor network of the center and the mixture :math:`\pi_\theta`.

    Parameters
    ----------
    centers : tensor of shape (K, d)
        Centers :math:`z_k` (kept fixed).
    depth : int, default=5
        Hidden layers of the network.
    width : int, default=64
        Units of each hidden layer.
    floor : float, default=0.01
        :math:`\epsilon` added to every precision.
    """

    def __init__(self, centers, depth=DEFAULT_DEPTH, width=DEFAULT_WIDTH, floor=DEFAULT_FLOOR):
        super().__init__()
        n_features = centers.shape[1]
        layers, n_in = [], n_features
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.GELU()]
            n_in = width
        layers.append(nn.Linear(n_in, n_features * (n_features + 1) // 2))
        self.network = nn.Sequential(*layers).to(centers.dtype)
        self.register_buffer("centers", centers)
        self.register_buffer("tril_rows_cols", torch.tril_indices(n_features, n_features))
        self.floor = floor

    def precisions(self):
        r""":math:`P_k = L_k L_k^\top + \epsilon I`, shape (K, d, d)."""
        n_centers, n_features = self.centers.shape
        L_kdd = self.centers.new_zeros(n_centers, n_features, n_features)
        rows, cols = self.tril_rows_cols
        L_kdd[:, rows, cols] = self.network(self.centers)
        identity = torch.eye(n_features, dtype=L_kdd.dtype, device=L_kdd.device)
        return L_kdd @ L_kdd.transpose(1, 2) + self.floor * identity

    def _terms(self, x_bd):
        """Log-kernels (B, K), products g = P (x - z) (B, K, d) and traces (K,)."""
        P_kdd = self.precisions()
        diff_bkd = x_bd[:, None, :] - self.centers[None]  # (B, K, d)
        # The dense product of the formulation: a (B, K, d, d) broadcast of the precisions.
        g_bkd = (P_kdd[None] @ diff_bkd[..., None])[..., 0]  # (B, K, d)
        half_logdet_k = torch.linalg.cholesky(P_kdd).diagonal(dim1=1, dim2=2).log().sum(-1)
        n_features = x_bd.shape[1]
        log_kernel_bk = (half_logdet_k - 0.5 * (diff_bkd * g_bkd).sum(-1)
                         - 0.5 * n_features * math.log(2 * math.pi))
        return log_kernel_bk, g_bkd, P_kdd.diagonal(dim1=1, dim2=2).sum(-1)

    def log_density(self, x_bd):
        r""":math:`\log \pi_\theta(x_i)`, shape (B,)."""
        log_kernel_bk, _, _ = self._terms(x_bd)
        return torch.logsumexp(log_kernel_bk, dim=1) - math.log(self.centers.shape[0])

    def ism_loss(self, x_bd):
        """Mean implicit score-matching loss :math:`J` over the rows of ``x_bd`` (0-d)."""
        log_kernel_bk, g_bkd, trace_k = self._terms(x_bd)
        w_bk = torch.softmax(log_kernel_bk, dim=1)
        D_bd = (w_bk[..., None] * g_bkd).sum(1)  # -grad log pi
        laplacian_term_b = (w_bk * ((g_bkd * g_bkd).sum(-1) - trace_k)).sum(1)
        return (laplacian_term_b - 0.5 * (D_bd * D_bd).sum(-1)).mean()


class TrainingRun(NamedTuple):
    """What :func:`train` returns: one entry per optimizer step."""

    #: Wall time of each step (minibatch draw, loss, backward pass and Adam update), seconds.
    step_seconds: np.ndarray
    #: Implicit score-matching loss of each step's minibatch, before its update.
    losses: np.ndarray


def split_centers(X, n_centers, random_state=0):
    """Draw ``n_centers`` rows of ``X`` as centers; return ``(centers, points)``, the rest."""
    X = np.asarray(X)
    if not 1 <= n_centers < len(X):
        raise ValueError(f"Expected 1 <= n_centers < n_samples = {len(X)}, got {n_centers}.")
    order = np.random.default_rng(random_state).permutation(len(X))
    return X[order[:n_centers]], X[order[n_centers:]]


def build_model(centers, *, depth=DEFAULT_DEPTH, width=DEFAULT_WIDTH, floor=DEFAULT_FLOOR,
                seed=0, dtype=torch.float32):
    """Return a :class:`CholeskyMixture` on ``centers`` (array-like (K, d)), seeded."""
    torch.manual_seed(seed)
    return CholeskyMixture(torch.as_tensor(np.asarray(centers), dtype=dtype), depth, width,
                           floor)


def train(model, points, n_steps, *, batch_size=DEFAULT_BATCH_SIZE,
          learning_rate=DEFAULT_LEARNING_RATE, seed=0):
    """Run ``n_steps`` Adam steps of the loss on minibatches of ``points`` (not centers).

    Each minibatch is ``batch_size`` rows drawn uniformly without replacement from
    ``points``; returns a :class:`TrainingRun`.
    """
    points_t = torch.as_tensor(np.asarray(points), dtype=model.centers.dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    step_seconds, losses = np.empty(n_steps), np.empty(n_steps)
    for step in range(n_steps):
        start = time.perf_counter()
        rows = torch.randperm(len(points_t), generator=generator)[:batch_size]
        loss = model.ism_loss(points_t[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_seconds[step] = time.perf_counter() - start
        losses[step] = loss.item()
    return TrainingRun(step_seconds, losses)


def heldout_ism_loss(model, X_test, *, batch_size=DEFAULT_BATCH_SIZE):
    """Mean implicit score-matching loss :math:`J` over every row of ``X_test``."""
    X_t = torch.as_tensor(np.asarray(X_test), dtype=model.centers.dtype)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(X_t), batch_size):
            batch = X_t[start:start + batch_size]
            total += model.ism_loss(batch).item() * len(batch)
    return total / len(X_t)


def _data(name, n_samples, n_features, seed):
    if name == "random":
        return np.random.default_rng(seed).normal(size=(n_samples, n_features))
    from wpokernel.datasets import make_toy

    return make_toy(name, n_samples, random_state=seed)


def main(argv=None):
    """Train the formulation on a 2-D toy (or random data) and print its timings and losses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="2spirals", help="a make_toy name, or 'random'")
    parser.add_argument("--n-features", type=int, default=2, help="dimension of 'random'")
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--n-centers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X = _data(args.data, args.n_samples, args.n_features, seed=0)
    X_train, X_test = X[: len(X) * 3 // 4], X[len(X) * 3 // 4 :]
    centers, points = split_centers(X_train, args.n_centers)
    model = build_model(centers)
    run = train(model, points, args.steps)
    print(f"{args.data}: K = {len(centers)}, d = {X.shape[1]}, B = {DEFAULT_BATCH_SIZE}, "
          f"{args.steps} steps: median step {np.median(run.step_seconds) * 1e3:.1f} ms, "
          f"first / last loss {run.losses[0]:.4g} / {run.losses[-1]:.4g}, held-out ISM "
          f"{heldout_ism_loss(model, X_test):.4g}")


if __name__ == "__main__":
    main()
