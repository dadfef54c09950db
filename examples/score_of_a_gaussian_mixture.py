r"""Score of a heat-flowed Gaussian mixture, checked against a dense reference.

Inputs: centers :math:`z_j \in \mathbb{R}^2` (a 2-D toy data set), a shared isotropic
covariance :math:`h^2 I`, heat-flow time :math:`t`, diffusion :math:`\beta`.

Output: the score :math:`\nabla \log \eta(x, t) = -\sum_j w_j(x) (x - z_j) / (h^2 + \beta^2 t)`
with :math:`w = \operatorname{softmax}_j(-\lVert x - z_j\rVert^2 / (2(h^2 + \beta^2 t)))`, from
the reduction engine, next to a dense NumPy broadcast; the script prints their relative error
and the time of each (after a warm-up call, which also compiles KeOps when it is used).
"""

import time

import numpy as np
from scipy.special import softmax

from wpokernel import GaussianMixtureField
from wpokernel.datasets import make_toy
from wpokernel.reductions import Isotropic


def dense_score(x, z, variance):
    """(M, N, d) broadcast: fine for a few thousand points, the reference here."""
    diff = x[:, None, :] - z[None, :, :]  # (M, N, d)
    w = softmax(-0.5 * (diff**2).sum(-1) / variance, axis=1)  # (M, N)
    return -(w[:, :, None] * diff).sum(1) / variance


def main(n=2000, h=0.1, beta=1.0, t=0.01):
    z = make_toy("2spirals", n, random_state=0)
    x = make_toy("2spirals", n, random_state=1)
    field = GaussianMixtureField(z, Isotropic(h**2), beta=beta)
    field.score(x, t)  # warm-up: same backend and size as the timed call
    start = time.perf_counter()
    engine = field.score(x, t)
    engine_done = time.perf_counter()
    dense = dense_score(x, z, h**2 + beta**2 * t)
    dense_done = time.perf_counter()
    error = np.abs(engine - dense).max() / np.abs(dense).max()
    print(f"relative error {error:.2e}; engine {engine_done - start:.3f} s, "
          f"dense {dense_done - engine_done:.3f} s")
    return error


if __name__ == "__main__":
    main()
