r"""The Wasserstein-proximal kernel score model with learned local covariances.

The terminal density is a Gaussian mixture on training points [ZLLKO2024]_,

.. math::

    \pi_\theta(x) = \frac1K \sum_{k=1}^{K} N\bigl(x;\, z_k,\, C_\theta(z_k)\bigr),

whose covariances come from one small network of the center (:mod:`wpokernel.neural`).
Under the heat flow it stays a mixture, :math:`C_k(s) = C_\theta(z_k) + \beta^2 s I`, so the
density, score and Laplacian are closed form at every noise level and the terminal law can be
sampled exactly; the reverse heat-flow SDE (the mean-field-game optimal dynamics) and the
probability-flow ODE reach the same law.

Fitting, in four steps, in the standardized coordinates of
:mod:`~wpokernel.estimators._standardize`:

1. a random validation share of ``X`` is set aside; the centers are the other points (all, or
   ``n_centers`` of them chosen at random or by k-means++ seeding);
2. local PCA: each center's covariance from its nearest neighbours, in the form the
   structure needs (the rank-:math:`r` local factors for ``"lowrank"``, no :math:`d \times d`
   matrix; :mod:`wpokernel.local_covariance`), and the map
   :math:`\hat C_k \mapsto \alpha \hat C_k + \sigma^2 \operatorname{diag}(f) + c_{\min} I`
   with a floor profile :math:`f` (isotropic, the data's shrunk per-feature variances, or
   one profile per center from its neighbourhood's left-out variances),
   the rank, the neighbourhood size and :math:`(\alpha, \sigma^2)` of best validation
   likelihood (:mod:`~wpokernel.estimators._wpo_init`);
3. the covariance model starts at these covariances exactly: for ``"lowrank"``,
   :class:`~wpokernel.neural.LocalScales` keeps the calibrated local factors and learns
   :math:`1 + r` scales per center from a network whose last layer starts at zero; for
   ``"full"`` and ``"diagonal"`` a network of the whole covariance is distilled onto them
   (Gaussian KL);
4. training by Adam on minibatches :math:`B` of training points, each scored against the
   mixture of the centers not in :math:`B` (a point is never scored against its own
   component), with either objective of :mod:`wpokernel.objectives`:
   ``"ism"``, implicit score matching :math:`\mathbb E[\tfrac12|\nabla\log\pi|^2 +
   \Delta\log\pi]`, or ``"loo_likelihood"``, the held-out negative log-likelihood. Every
   ``validation_interval`` steps the validation log-likelihood is measured; training stops
   after ``patience`` measurements without improvement and restores the best
   network, the initialization (step 0) included.

Every step of a ``"lowrank"`` fit — neighbours, local factors, calibration, training,
evaluation, sampling — costs :math:`O(K d r)` memory, never a :math:`d \times d`
matrix per center: the factors are stored in float32, a training step holds the statistics
of a block of its batch at a time (:mod:`~wpokernel.estimators._wpo_training`), and the
fitted mixture and the network each hold one copy of the factors.

References
----------
.. [ZLLKO2024] B. J. Zhang, S. Liu, W. Li, M. A. Katsoulakis, S. J. Osher, "Wasserstein
   proximal operators describe score-based generative models and resolve memorization",
   arXiv:2402.06162, 2024.
"""

import warnings

import numpy as np
import torch
from sklearn.cluster import kmeans_plusplus
from sklearn.utils import check_random_state

from .._validation import (
    boolean,
    nonnegative_int,
    one_of,
    open_fraction,
    optional,
    positive_int,
    positive_real,
    real_or_option,
    seed,
)
from ..mixture import GaussianMixtureField
from ..neural import HEADS, FactorNetwork, FreeFactors, LocalScales, distill, torch_threads, train
from ..neural.local_pairs import center_terms, mixture_log_density
from ..objectives import OBJECTIVES
from ..reductions import mixture_moments
from ._base import BaseMixtureScore, UnweightedFitMixin
from ._wpo_init import (
    _DENSE_NEIGHBOR_GRID,
    _NEIGHBOR_GRID,
    _RANK_GRID,
    floor_candidates,
    initialize,
)
from . import _wpo_training
from ._wpo_training import dense_loo_loss, nearest_center_loss

__all__ = ["WPOKernelScore"]

# Full covariances cost d^2 per (query, center) pair; above this dimension "auto" switches to
# the low-rank structure, whose cost is d r.
_MAX_FULL_AUTO_DIMENSION = 16
_DEFAULT_RANK = 10
# Validation points are set aside only when at least this many points remain as centers.
_MIN_POINTS_FOR_VALIDATION = 20
# The covariance floor relative to rho^2 when covariance_floor="auto": a standard deviation of
# 1e-3 of the data's spread in every direction.
_RELATIVE_COVARIANCE_FLOOR = 1e-6
_SEED_BOUND = 2**31 - 1
# Validation points of every early-stopping measurement (the parameter's docstring).
_MAX_EARLY_STOPPING_POINTS = 2048
# Below this many (evaluation point, center, feature) triples per step, torch's intra-op
# threads cost more in synchronization than they save: a 30-point fit took 2.8 s with two
# threads and 0.35 s with one on a 2-core machine, and on digits (1.8e7 triples) 50 steps took
# 24 s with one thread and over 100 s with two on a busy one (the backward pass of the batched
# small Cholesky solves spins).
_MIN_WORK_FOR_THREADS = 10**9


# ---------------------------------------------------------------------------- data split
def _split(n_samples, validation_fraction, rng):
    """Return (fit rows, validation rows); no validation for tiny data."""
    order = rng.permutation(n_samples)
    n_validation = int(round(validation_fraction * n_samples))
    if n_samples - n_validation < _MIN_POINTS_FOR_VALIDATION or n_validation == 0:
        return np.sort(order), np.array([], dtype=int)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def _rows(X, rows):
    """``X[rows]``, without a copy when ``rows`` are all of them in order (every fitting
    point a center: at MNIST scale a copy is 0.3 GiB)."""
    return X if np.array_equal(rows, np.arange(len(X))) else X[rows]


def _choose_centers(X_fit, n_centers, selection, rng):
    """Rows of ``X_fit`` used as centers."""
    if n_centers is None or n_centers >= len(X_fit):
        return np.arange(len(X_fit))
    if selection == "random":
        return np.sort(rng.choice(len(X_fit), n_centers, replace=False))
    _, index = kmeans_plusplus(X_fit, n_centers, random_state=rng)
    return np.sort(index)


# ---------------------------------------------------------------------------- training
def _validation_log_likelihood(model, centers_t, X_val_t):
    with torch.no_grad():
        if isinstance(model, LocalScales):  # the d r products once, not through the engine
            return float(mixture_log_density(X_val_t, centers_t, model.factors, model.profile,
                                             *model.local_scales(centers_t, None)).mean())
        covariance = model(centers_t, torch.arange(len(centers_t), device=centers_t.device))
        return float(
            mixture_moments(X_val_t, centers_t, covariance, backend="torch").log_density.mean()
        )


def _training_batch(n_fit, center_rows, batch_size, rng):
    """Evaluation rows and the indices of the centers that are not among them."""
    batch = rng.choice(n_fit, min(batch_size, max(1, n_fit // 2)), replace=False)
    kept = np.flatnonzero(~np.isin(center_rows, batch))
    if len(kept) == 0:
        # Only when there are fewer centers than the batch: keep one center out of it.
        batch = batch[batch != center_rows[0]]
        kept = np.array([0])
    return batch, kept


# ---------------------------------------------------------------------------- estimator
class WPOKernelScore(UnweightedFitMixin, BaseMixtureScore):
    r"""Wasserstein-proximal kernel score model: a Gaussian mixture on the training points
    with local covariances from a network of the center, fitted by score matching.

    See the module docstring for the model and the fitting steps. Every length is in units
    of the data's spread ``scale_`` (:mod:`~wpokernel.estimators._standardize`).

    Parameters
    ----------
    structure : {"auto", "full", "diagonal", "lowrank"}, default="auto"
        Covariance structure; ``"auto"`` is ``"full"`` up to 16 features, else ``"lowrank"``.
    rank : int or "auto", default="auto"
        Rank :math:`r` of ``"lowrank"``; ``"auto"`` chooses 10 or 20 on validation data
        (at most ``n_features``). A rank above ``n_features`` or above ``n_neighbors`` (whose
        differences span at most that many directions) is clipped to it with a warning.
    objective : {"loo_likelihood", "ism"}, default="loo_likelihood"
        Training objective (module docstring).
    n_centers : int or None, default=None
        Number of centers; ``None`` uses every fitting point.
    center_selection : {"random", "kmeans++"}, default="random"
        How a subset of centers is chosen.
    n_neighbors : int or "auto", default="auto"
        Neighbours of the local-PCA covariances (capped at the number of fitting points - 1);
        ``"auto"`` chooses 20 or 40 on validation data for ``"lowrank"``, 20, 40, 80 or 160
        for the dense ``"full"`` and ``"diagonal"``, whose :math:`d \times d` or :math:`d`
        local statistics are cheap and need more neighbours as :math:`d` grows.
    floor : {"auto", "isotropic", "diagonal", "local"}, default="auto"
        Profile of the variance under a ``"lowrank"`` structure's local part: the same in
        every direction; the data's per-feature variances shrunk towards their mean
        (shrinkage 0, 0.001, 0.01 or 0.1, chosen on validation data); or, per center, the
        per-feature variances its neighbourhood leaves out of the local factors plus a share
        (1e-6 to 0.1, chosen on validation data) of the data's, for features constant near
        some centers and not near others (the pixels of an image,
        :mod:`~wpokernel.estimators._wpo_init`). ``"auto"`` chooses among all of them.
        Other structures take ``"isotropic"`` (or ``"auto"``).
    amortized : bool, default=True
        Covariances from one network of the center; ``False`` gives every center free
        parameters (no smoothness, so it overfits: offered for comparison).
    width, depth : int, default=64, 2
        Hidden units per layer and hidden layers of the network.
    covariance_floor : float or "auto", default="auto"
        Smallest eigenvalue :math:`\sigma_{\text{floor}}^2` of every component covariance, in
        units of ``scale_**2``; ``"auto"`` is :math:`10^{-6}` (a standard deviation of
        :math:`10^{-3}` of the data's spread).
    learning_rate : float, default=1e-3
        Adam step size.
    batch_size : int, default=256
        Evaluation points per step (at most half the fitting points).
    max_steps : int, default=2000
        Largest number of optimizer steps; 0 keeps the local-PCA initialization.
    validation_fraction : float, default=0.1
        Share of ``X`` held out for early stopping (none when fewer than 20 points remain).
        Early stopping measures at most 2048 of them, the same ones at every measurement:
        enough to compare two steps on the same points; at MNIST scale a measurement of all
        6,000 would cost as much as 23 training steps of 256 points.
    validation_interval : int, default=25
        Optimizer steps between two validation measurements.
    patience : int, default=8
        Measurements without improvement before training stops.
    device : {"cpu", "cuda"}, default="cpu"
        Torch device of the training, and where the fitted mixture lives and samples.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the centers, the network and the minibatches.
    beta, T, sigma_min, n_steps, backend, working_memory, progress
        As in :class:`~wpokernel.EmpiricalScore`: heat-flow speed, start time, the noise left
        where sampling stops, sampler steps, reduction backend of evaluation and sampling,
        its memory budget and progress bars.

    Attributes
    ----------
    field_ : GaussianMixtureField
        Terminal mixture :math:`\pi_\theta` in standardized coordinates;
        :meth:`density_field` gives the model density in the caller's units.
    mean_, scale_ : ndarray of shape (n_features,), float
        The data's weighted mean and root-mean-square spread (the standardization).
    factor_network_ : torch.nn.Module
        The trained network (CPU, float64), of standardized centers. For ``"lowrank"`` it
        holds the calibrated local factors, stored in float32 like the factors of
        ``field_``: at image scale they are gigabytes, and the rounding (relative
        :math:`6 \cdot 10^{-8}`) is far below their sampling error; every product with them
        is formed in float64.
    structure_, rank_, n_neighbors_, covariance_floor_ : str, int, int, float
        Resolved hyper-parameters.
    floor_ : {"isotropic", "diagonal", "local"}
        Chosen floor profile.
    floor_shrinkage_ : float or None
        Shrinkage :math:`\lambda` of the diagonal profile, or share :math:`\mu` of the
        data's variances in the local profiles (``None``: isotropic).
    floor_profile_ : ndarray of shape (n_features,) or None
        The profile :math:`f` of the diagonal floor, largest entry 1 (``None`` for the
        others; the local profiles, one per center, are ``field_.covariance.profile``).
    calibration_log_likelihood_ : float
        Validation mean log-likelihood of the chosen local-PCA mixture on at most 512
        validation points (standardized coordinates; NaN without validation points).
    covariance_ceiling_ : float
        Largest variance of the standardized data (top eigenvalue of its covariance): no
        component's covariance exceeds it by more than the floor (:mod:`wpokernel.neural`).
    local_scale_, local_variance_ : float
        The calibrated :math:`\alpha` and :math:`\sigma^2` of the initialization.
    init_validation_log_likelihood_ : float
        Validation mean log-likelihood of the model before training (the initialization, or
        for ``"full"`` and ``"diagonal"`` its distilled network), in standardized coordinates
        (NaN without validation points).
    best_validation_log_likelihood_ : float
        The same at the restored step.
    training_neighbors_ : int or None
        Nearest centers each training point was scored against (128), or ``None``: all of
        them. The nearest ones are used for a ``"lowrank"`` model fitted with
        ``"loo_likelihood"`` when the full sum costs more than about a tenth of a second per
        step and, at the initialization, the far centers add less than 0.01 nats to the
        held-out log-density of a probe of 256 training points
        (:mod:`~wpokernel.estimators._wpo_training`); early stopping always measures the
        full mixture.
    training_truncation_gap_ : float
        That measured mean shortfall, in nats (NaN where it was not measured, as with
        ``max_steps=0``).
    n_train_steps_ : int
        Optimizer steps run.
    best_step_ : int
        Step of the restored network (0: the initialization).
    history_ : dict
        ``"loss"`` per step, ``"validation_score"`` (validation mean log-likelihood) per
        measurement, and ``"validation_step"``.

    Examples
    --------
    >>> from wpokernel import WPOKernelScore
    >>> from wpokernel.datasets import make_toy
    >>> X = make_toy("moons", 300, random_state=0)
    >>> model = WPOKernelScore(max_steps=50, progress=False, random_state=0).fit(X)
    >>> model.sample(5, random_state=0).shape
    (5, 2)
    """

    _parameter_constraints = {
        **BaseMixtureScore._parameter_constraints,
        "structure": one_of("auto", *HEADS),
        "rank": real_or_option(positive_int, "auto"),
        "floor": one_of("auto", "isotropic", "diagonal", "local"),
        "objective": one_of(*OBJECTIVES),
        "n_centers": optional(positive_int),
        "center_selection": one_of("random", "kmeans++"),
        "n_neighbors": real_or_option(positive_int, "auto"),
        "amortized": boolean,
        "width": positive_int,
        "depth": positive_int,
        "covariance_floor": real_or_option(positive_real, "auto"),
        "learning_rate": positive_real,
        "batch_size": positive_int,
        "max_steps": nonnegative_int,
        "validation_fraction": open_fraction,
        "validation_interval": positive_int,
        "patience": positive_int,
        "random_state": seed,
    }

    def __init__(
        self,
        *,
        structure="auto",
        rank="auto",
        objective="loo_likelihood",
        n_centers=None,
        center_selection="random",
        n_neighbors="auto",
        floor="auto",
        amortized=True,
        width=64,
        depth=2,
        covariance_floor="auto",
        learning_rate=1e-3,
        batch_size=256,
        max_steps=2000,
        validation_fraction=0.1,
        validation_interval=25,
        patience=8,
        device="cpu",
        random_state=None,
        beta=1.0,
        T=1.0,
        sigma_min=1e-3,
        n_steps=500,
        backend="auto",
        working_memory=256,
        progress=True,
    ):
        self.structure = structure
        self.rank = rank
        self.objective = objective
        self.n_centers = n_centers
        self.center_selection = center_selection
        self.n_neighbors = n_neighbors
        self.floor = floor
        self.amortized = amortized
        self.width = width
        self.depth = depth
        self.covariance_floor = covariance_floor
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.beta = beta
        self.T = T
        self.sigma_min = sigma_min
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.progress = progress

    # ------------------------------------------------------------ hyper-parameters
    def _resolve(self, X):
        d = X.shape[1]
        self.structure_ = (
            ("full" if d <= _MAX_FULL_AUTO_DIMENSION else "lowrank")
            if self.structure == "auto" else self.structure
        )
        if self.floor in ("diagonal", "local") and self.structure_ != "lowrank":
            raise ValueError(f"Expected floor='isotropic' or 'auto' with structure="
                             f"{self.structure_!r}, got floor={self.floor!r}: only the "
                             "'lowrank' structure has a floor under its local part.")
        # X is standardized, so its spread is 1 up to rounding.
        scale = float(np.sqrt(X.var(axis=0).mean()))
        self.covariance_floor_ = float(_RELATIVE_COVARIANCE_FLOOR * scale**2
                                       if self.covariance_floor == "auto" else self.covariance_floor)
        # No component may be wider than the data itself in its widest direction.
        X_centered = X - X.mean(axis=0)
        self.covariance_ceiling_ = float(
            np.linalg.eigvalsh(X_centered.T @ X_centered / len(X))[-1]
        )
        return scale

    def _candidates(self, n_features, n_fit):
        """Candidate ranks, neighbourhood sizes and (kind, weight) floors (module docstring)."""
        grid = _NEIGHBOR_GRID if self.structure_ == "lowrank" else _DENSE_NEIGHBOR_GRID
        neighbors = sorted({min(m, n_fit - 1) for m in (
            grid if self.n_neighbors == "auto" else (self.n_neighbors,))})
        if self.structure_ != "lowrank":
            return [min(n_features, _DEFAULT_RANK)], neighbors, floor_candidates(["isotropic"])
        if self.rank == "auto":
            ranks = sorted({min(r, n_features) for r in _RANK_GRID})
        else:
            limit = min(n_features, max(neighbors))
            if self.rank > limit:
                warnings.warn(f"rank={self.rank} is more than the {limit} directions that "
                              f"{n_features} features and {max(neighbors)} neighbours give; "
                              f"using rank {limit}.", UserWarning, stacklevel=4)
            ranks = [min(self.rank, limit)]
        kinds = ["isotropic", "diagonal", "local"] if self.floor == "auto" else [self.floor]
        return ranks, neighbors, floor_candidates(kinds)

    def _new_model(self, n_centers, n_features, mean, scale, seed, init):
        """The covariance model: scales of the calibrated local factors (``"lowrank"``), or a
        network of the whole covariance, distilled onto the initialization."""
        bounds, profile = (self.covariance_floor_, self.covariance_ceiling_), init.profile
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.structure_ == "lowrank":
                return LocalScales(n_centers, n_features, self.rank_, self.width, self.depth, mean,
                                   scale, *bounds, init.variance, profile, self.amortized,
                                   init.target.factors)
            if self.amortized:
                return FactorNetwork(n_features, self.structure_, self.rank_, self.width,
                                     self.depth, mean, scale, *bounds, profile=profile)
            return FreeFactors(n_centers, n_features, self.structure_, self.rank_, scale, *bounds,
                               profile=profile)

    def _training_device(self):
        return torch.device(self.device)

    # ------------------------------------------------------------ the hook
    def _fit_field(self, X, sample_weight):
        del sample_weight  # all ones: this fit takes no weights
        rng = check_random_state(self.random_state)
        scale = self._resolve(X)
        fit_rows, validation_rows = _split(len(X), self.validation_fraction, rng)
        X_fit, X_val = X[fit_rows], X[validation_rows]
        center_rows = _choose_centers(X_fit, self.n_centers, self.center_selection, rng)
        centers = _rows(X_fit, center_rows)

        work = min(self.batch_size, len(X_fit)) * len(center_rows) * X.shape[1]
        n_threads = 1 if work < _MIN_WORK_FOR_THREADS else torch.get_num_threads()
        with torch_threads(n_threads):
            model, centers_t = self._initialize(X_fit, X_val, center_rows, centers, scale, rng)
            self._train(model, X_fit, X_val, center_rows, centers_t, rng)
        model = model.cpu().eval()
        self.factor_network_ = model
        with torch.no_grad():
            covariance = (model.mixture_structure(torch.as_tensor(centers))
                          if isinstance(model, LocalScales)
                          else model(torch.as_tensor(centers), torch.arange(len(centers))))
        # As they are, without copies: float64, but the local factors of "lowrank" are the
        # network's own float32 buffer.
        covariance = covariance.map_arrays(lambda a: a.detach().numpy())
        return GaussianMixtureField(centers, covariance, beta=self.beta, backend=self.backend,
                                    working_memory=self.working_memory)

    def _initialize(self, X_fit, X_val, center_rows, centers, scale, rng):
        """Local PCA, calibration and distillation; return the model and the centers tensor."""
        ranks, neighbors, floors = self._candidates(X_fit.shape[1], len(X_fit))
        init = initialize(self.structure_, X_fit, X_val, center_rows, centers, ranks=ranks,
                          neighbors=neighbors, floors=floors,
                          floor=self.covariance_floor_, ceiling=self.covariance_ceiling_, rng=rng)
        self.rank_, self.n_neighbors_ = init.rank, init.n_neighbors
        self.floor_, self.floor_shrinkage_ = init.floor, init.shrinkage
        self.floor_profile_ = init.profile if init.floor == "diagonal" else None
        self.local_scale_, self.local_variance_ = init.alpha, init.variance
        self.calibration_log_likelihood_ = init.log_likelihood
        device = self._training_device()
        centers_t = torch.as_tensor(centers, device=device)
        model = self._new_model(len(centers), X_fit.shape[1], X_fit.mean(axis=0), scale,
                                int(rng.randint(_SEED_BOUND)), init).to(device)
        if not isinstance(model, LocalScales):  # starts at the initialization itself otherwise
            target = tuple(t.to(device) for t in init.head.parameters(init.target))
            distill(model, lambda index: model.distillation_loss(
                centers_t[index], index, tuple(t[index] for t in target)), len(centers), rng,
                progress=self.progress)
        return model, centers_t

    def _train(self, model, X_fit, X_val, center_rows, centers_t, rng):
        device = centers_t.device
        X_fit_t = torch.as_tensor(X_fit, device=device)
        if len(X_val) > _MAX_EARLY_STOPPING_POINTS:  # drawn only then: smaller fits unchanged
            X_val = X_val[np.sort(rng.choice(len(X_val), _MAX_EARLY_STOPPING_POINTS,
                                             replace=False))]
        X_val_t = torch.as_tensor(X_val, device=device)
        loss_function = OBJECTIVES[self.objective]

        pair_path = (isinstance(model, LocalScales) and self.objective == "loo_likelihood"
                     and self.max_steps > 0)
        # The per-center terms of the pair statistics and what the scales of every step
        # share, once for the check and every step.
        terms = center_terms(centers_t, model.factors, model.profile) if pair_path else None
        scales = model.scales_of_all(centers_t) if pair_path else None
        nearest_loss, self.training_truncation_gap_ = (
            nearest_center_loss(model, X_fit_t, center_rows, centers_t, self.batch_size, rng,
                                terms, scales)
            if pair_path else (None, np.nan))
        self.training_neighbors_ = (None if nearest_loss is None
                                    else _wpo_training.TRAINING_NEIGHBORS)

        def step_loss(step):
            del step
            batch, kept = _training_batch(len(X_fit), center_rows, self.batch_size, rng)
            if nearest_loss is not None:
                return nearest_loss(batch, kept)
            x_b = X_fit_t[torch.as_tensor(batch, device=device)]
            if pair_path:
                excluded = np.setdiff1d(np.arange(len(center_rows)), kept)
                return dense_loo_loss(model, x_b, centers_t,
                                      torch.as_tensor(excluded, device=device), terms, scales)
            kept_t = torch.as_tensor(kept, device=device)
            return loss_function(x_b, centers_t[kept_t], model(centers_t[kept_t], kept_t))

        validate = None
        if len(X_val) > 0:
            def validate():
                return _validation_log_likelihood(model, centers_t, X_val_t)

        result = train(model, step_loss, max_steps=self.max_steps,
                       learning_rate=self.learning_rate, validate=validate,
                       validation_interval=self.validation_interval, patience=self.patience,
                       progress=self.progress, desc="WPOKernelScore")
        self.history_ = result.history
        self.init_validation_log_likelihood_ = (result.history["validation_score"][0]
                                                if validate is not None else np.nan)
        self.n_train_steps_ = result.n_steps
        self.best_step_ = result.best_step
        self.best_validation_log_likelihood_ = result.best_score
