"""Spectral initialisation of Dawid-Skene: the method of moments of Zhang, Chen, Zhou & Jordan.

Under the Dawid-Skene model (ALGORITHMS.md §1) the answers of disjoint groups of workers are
independent given the true class. Zhang et al. (2014) split the workers into three groups
``G_1, G_2, G_3`` and sum each group's one-hot answers per task, ``Z_g[s] in R^K``. Then

- ``E[Z_g | y = l] = mu_gl`` (column ``l`` of the group's *aggregated* confusion matrix ``C_g``),
- the pair moments ``M_gh = E[Z_g Z_h^T] = C_g W C_h^T`` with ``W = diag(w)`` the class prior,
- after mapping two groups onto the third, ``Z'_a = M_cb M_ab^{-1} Z_a`` and
  ``Z'_b = M_ca M_ba^{-1} Z_b``, the symmetric moments
  ``M2 = E[Z'_a (x) Z'_b] = sum_l w_l mu_cl (x) mu_cl`` and
  ``M3 = E[Z'_a (x) Z'_b (x) Z_c] = sum_l w_l mu_cl (x) mu_cl (x) mu_cl``.

Whitening ``M3`` with ``Q`` (``Q^T M2 Q = I``) gives an orthogonally decomposable tensor whose
eigenpairs ``(lambda_h, v_h)`` the robust tensor power method of Anandkumar et al. (2014)
recovers: ``w_h = lambda_h^-2`` and ``mu_ch = lambda_h (Q^T)^+ v_h``. Each recovered ``mu_ch``
is assigned to the class it puts most mass on (Hungarian matching of the normalised columns,
which is the paper's "column l is the mu whose l-th coordinate is greatest" without collisions).
Repeating this with each group as ``c`` gives all three ``C_g``. Finally each worker ``i`` in
group ``g`` is read off against the other two groups combined (``Z_{-g} = sum_{h != g} Z_h``):
``E[z_i Z_{-g}^T] = C_i W C_{-g}^T`` so ``C_i = M_{i,-g} (W C_{-g}^T)^{-1}``, floored at a small
positive value and normalised column by column (missing answers only rescale a column, which
the normalisation removes). EM started from these estimates is the paper's "Opt-D&S".

When a moment matrix is singular or too ill-conditioned to invert (too few workers, groups
that never label the same tasks, a class nobody uses, workers no better than chance), the
method cannot recover the parameters; :func:`spectral_posteriors` then warns with
:class:`SpectralFallbackWarning` and returns the soft majority vote instead.

Everything here costs a few passes of ``np.bincount`` over the answers and ``K x K`` (``K^3``)
linear algebra; nothing is hot enough to need numba.

References
----------
Zhang, Y., Chen, X., Zhou, D. and Jordan, M. I. (2014). Spectral methods meet EM: a provably
optimal algorithm for crowdsourcing. *NeurIPS 27*; *JMLR* 17(102), 1-44 (2016).
Anandkumar, A., Ge, R., Hsu, D., Kakade, S. M. and Telgarsky, M. (2014). Tensor decompositions
for learning latent variable models. *JMLR* 15, 2773-2832.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .answers import CrowdAnswers, as_answers
from .em import posterior

__all__ = [
    "SpectralFallbackWarning",
    "SpectralError",
    "SpectralEstimate",
    "spectral_estimate",
    "spectral_posteriors",
    "robust_tensor_power",
    "split_workers",
]

#: largest condition number of a moment matrix that the method will invert
MAX_CONDITION = 1e8
#: floor of a confusion-matrix entry before the columns are normalised (as in the authors' code)
CONFUSION_FLOOR = 1e-6


class SpectralFallbackWarning(UserWarning):
    """The spectral method could not be applied; the soft majority vote was used instead."""


class SpectralError(ValueError):
    """A moment matrix is singular or ill-conditioned: the spectral estimate does not exist."""


@dataclass(frozen=True)
class SpectralEstimate:
    """Result of :func:`spectral_estimate`.

    Attributes
    ----------
    confusions : ndarray (n_workers, K, K)
        ``[i, a, k] = P(worker i answers a | true class k)``; columns sum to one.
    class_prior : ndarray (K,)
        Estimated class proportions ``w_k`` (positive, sum to one).
    group_confusions : ndarray (3, K, K)
        The groups' aggregated means ``mu_gl`` (column ``l`` is ``E[Z_g | y = l]``).
    groups : ndarray (n_workers,)
        Group (0, 1 or 2) of each worker.
    condition : float
        Largest condition number met among the inverted moment matrices.
    """

    confusions: np.ndarray
    class_prior: np.ndarray
    group_confusions: np.ndarray
    groups: np.ndarray
    condition: float


def split_workers(answers_per_worker: np.ndarray, rng: np.random.Generator, n_groups: int = 3) -> np.ndarray:
    """Random partition of the workers into groups holding about as many answers each.

    Workers are visited in a random order (from ``rng``) and each joins the group with the
    fewest answers so far, so the groups are balanced by answer volume, not by head count
    (a few very active workers would otherwise make one group dominate the moments).

    Returns
    -------
    ndarray of int64 (n_workers,)
        Group index of every worker.
    """
    counts = np.asarray(answers_per_worker)
    order = rng.permutation(len(counts))
    # most active first (stable on the random order) so the greedy balance is tight
    order = order[np.argsort(-counts[order], kind="stable")]
    groups = np.empty(len(counts), dtype=np.int64)
    load = np.zeros(n_groups)
    heads = np.zeros(n_groups, dtype=np.int64)
    for w in order:  # a loop over workers (not answers): at most a few thousand
        g = int(np.lexsort((heads, load))[0])
        groups[w] = g
        load[g] += counts[w]
        heads[g] += 1
    return groups


def _tensor_apply(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``T(I, v, v)`` for a batch of vectors ``v`` (L, k) -> (L, k)."""
    k = t.shape[0]
    return (v[:, :, None] * v[:, None, :]).reshape(len(v), k * k) @ t.reshape(k, k * k).T


def robust_tensor_power(
    tensor: np.ndarray, rng: np.random.Generator, n_starts: int | None = None, n_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of a symmetric, (nearly) orthogonally decomposable 3-tensor.

    Robust tensor power method (Anandkumar et al. 2014, Algorithm 1): for each of ``k``
    components, run ``n_starts`` power iterations ``v <- T(I, v, v) / ||T(I, v, v)||`` from
    random unit vectors, keep the start with the largest ``T(v, v, v)``, refine it with
    ``n_iter`` more iterations, and deflate ``T <- T - lambda v (x) v (x) v``.

    Parameters
    ----------
    tensor : ndarray (k, k, k)
        Symmetric tensor, ideally ``sum_h lambda_h v_h (x) v_h (x) v_h`` with orthonormal ``v_h``.
    rng : numpy.random.Generator
        Source of the random starts.
    n_starts : int, optional
        Random starts per component (default ``10 k``).
    n_iter : int, default=100
        Power iterations per start, and again for the refinement.

    Returns
    -------
    eigenvalues : ndarray (k,)
    eigenvectors : ndarray (k, k)
        Column ``h`` is ``v_h``, found in decreasing order of robustness (usually of eigenvalue).

    Examples
    --------
    >>> import numpy as np
    >>> v = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    >>> t = np.einsum("h,ih,jh,kh->ijk", [3.0, 2.0, 1.0], v, v, v)
    >>> lam, vec = robust_tensor_power(t, np.random.default_rng(1))
    >>> np.round(np.sort(lam), 6).tolist()
    [1.0, 2.0, 3.0]
    """
    t = np.array(tensor, dtype=np.float64)
    k = t.shape[0]
    n_starts = 10 * k if n_starts is None else n_starts
    values = np.empty(k)
    vectors = np.empty((k, k))
    for h in range(k):
        v = rng.normal(size=(n_starts, k))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        for _ in range(n_iter):
            u = _tensor_apply(t, v)
            norm = np.sqrt(np.einsum("li,li->l", u, u))[:, None]
            new = np.where(norm > 0, u / np.where(norm > 0, norm, 1.0), v)
            done = np.abs(new - v).max() < 1e-12
            v = new
            if done:
                break
        scores = np.einsum("li,li->l", _tensor_apply(t, v), v)
        best = v[int(np.argmax(scores))][None, :]
        for _ in range(n_iter):
            u = _tensor_apply(t, best)
            norm = np.linalg.norm(u)
            if norm == 0:
                break
            done = np.abs(u / norm - best).max() < 1e-12
            best = u / norm
            if done:
                break
        vec = best[0]
        lam = float(np.einsum("ijk,i,j,k->", t, vec, vec, vec))
        values[h] = lam
        vectors[:, h] = vec
        t -= lam * np.einsum("i,j,k->ijk", vec, vec, vec)
    return values, vectors


def _group_sums(ans: CrowdAnswers, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``Z[g, s, a]`` = number of workers of group g who answered a on task s."""
    n, k = ans.n_tasks, ans.n_classes
    index = (groups[ans.worker] * n + ans.task.astype(np.int64)) * k + ans.label
    return np.bincount(index, minlength=n_groups * n * k).reshape(n_groups, n, k).astype(np.float64)


def _checked_inverse(mat: np.ndarray, what: str) -> tuple[np.ndarray, float]:
    cond = float(np.linalg.cond(mat))
    if not np.isfinite(cond) or cond > MAX_CONDITION:
        raise SpectralError(f"the {what} moment matrix is singular or ill-conditioned (condition number {cond:.3g})")
    return np.linalg.inv(mat), cond


def _group_means(z: np.ndarray, a: int, b: int, c: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Class-conditional means of group ``c`` (columns, matched to classes) and class weights."""
    n, k = z.shape[1], z.shape[2]
    za, zb, zc = z[a], z[b], z[c]
    m_ab, cond1 = _checked_inverse(za.T @ zb / n, f"group {a + 1} x {b + 1}")
    m_ba, cond2 = _checked_inverse(zb.T @ za / n, f"group {b + 1} x {a + 1}")
    za2 = za @ (zc.T @ zb / n @ m_ab).T  # Z'_a = M_cb M_ab^-1 Z_a, row by row
    zb2 = zb @ (zc.T @ za / n @ m_ba).T  # Z'_b = M_ca M_ba^-1 Z_b
    m2 = za2.T @ zb2 / n
    m2 = (m2 + m2.T) / 2
    m3 = np.einsum("si,sj,sk->ijk", za2, zb2, zc) / n
    # symmetrise M3 over all index permutations (equal in expectation; removes sampling asymmetry)
    m3 = (m3 + m3.transpose(0, 2, 1) + m3.transpose(1, 0, 2) + m3.transpose(1, 2, 0)
          + m3.transpose(2, 0, 1) + m3.transpose(2, 1, 0)) / 6
    evals, evecs = np.linalg.eigh(m2)
    if evals[0] <= 0 or evals[-1] / evals[0] > MAX_CONDITION:
        raise SpectralError(
            f"the second moment of group {c + 1} is not positive definite (eigenvalues "
            f"{evals[0]:.3g} .. {evals[-1]:.3g})"
        )
    whiten = evecs / np.sqrt(evals)  # Q with Q^T M2 Q = I
    t = np.einsum("ijk,ia,jb,kc->abc", m3, whiten, whiten, whiten)
    lam, vec = robust_tensor_power(t, rng)
    if not np.all(lam > 0):
        raise SpectralError(f"the tensor power method found a non-positive eigenvalue for group {c + 1}")
    mu = np.linalg.pinv(whiten.T) @ (vec * lam)  # column h: lambda_h (Q^T)^+ v_h
    weights = lam ** -2.0
    # match components to classes: component h goes to the class it puts most (relative) mass on
    col_sums = mu.sum(axis=0)
    if np.any(col_sums <= 0):
        raise SpectralError(f"a recovered mean of group {c + 1} has no positive mass")
    comp, cls = linear_sum_assignment(-(mu / col_sums).T)
    means = np.empty((k, k))
    w = np.empty(k)
    means[:, cls] = mu[:, comp]
    w[cls] = weights[comp]
    return means, w, max(cond1, cond2, float(evals[-1] / evals[0]))


def spectral_estimate(answers: Any, random_state: Any = None) -> SpectralEstimate:
    """Estimate every worker's confusion matrix and the class prior by the method of moments.

    Parameters
    ----------
    answers : CrowdAnswers or anything :func:`crowdmix.as_answers` accepts
    random_state : int, Generator or None
        Seeds the random split of the workers into three groups and the random starts of the
        tensor power method; the estimate is deterministic given it.

    Returns
    -------
    SpectralEstimate

    Raises
    ------
    SpectralError
        When fewer than three workers answered, or a moment matrix is singular or
        ill-conditioned (condition number above ``MAX_CONDITION``).

    References
    ----------
    Zhang, Chen, Zhou and Jordan (2014), Spectral methods meet EM, Algorithm 1.

    Examples
    --------
    >>> from crowdmix.datasets import make_crowd
    >>> crowd = make_crowd(n_tasks=2000, n_workers=30, n_classes=3, answers_per_task=None,
    ...                    random_state=0)
    >>> est = spectral_estimate(crowd.answers, random_state=0)
    >>> est.confusions.shape
    (30, 3, 3)
    >>> bool(abs(est.confusions - crowd.confusions).mean() < 0.05)
    True
    """
    ans = as_answers(answers)
    rng = np.random.default_rng(random_state)
    m, k, n = ans.n_workers, ans.n_classes, ans.n_tasks
    active = ans.answers_per_worker > 0
    if int(active.sum()) < 3:
        raise SpectralError(f"the spectral method needs at least 3 workers with answers, got {int(active.sum())}")
    groups = split_workers(ans.answers_per_worker, rng)
    z = _group_sums(ans, groups, 3)
    means = np.empty((3, k, k))
    weights = np.empty((3, k))
    cond = 1.0
    for a, b, c in ((1, 2, 0), (2, 0, 1), (0, 1, 2)):
        means[c], weights[c], cnd = _group_means(z, a, b, c, rng)
        cond = max(cond, cnd)
    total = z.sum(axis=0)
    confusions = np.empty((m, k, k))
    for g in range(3):
        others = [h for h in range(3) if h != g]
        z_alt = total - z[g]
        mu_alt = means[others].sum(axis=0)
        w_alt = weights[others].mean(axis=0)
        rhs, cnd = _checked_inverse(w_alt[:, None] * mu_alt.T, f"groups-other-than-{g + 1}")
        cond = max(cond, cnd)
        rows = groups[ans.worker] == g
        # M_{i,-g}[a, l] = (1/n) sum_s [x_si = a] Z_{-g}[s, l], for all workers of group g at once
        code = ans.value_codes[rows]
        zs = z_alt[ans.task[rows]]
        pair = np.stack([np.bincount(code, weights=zs[:, c], minlength=m * k) for c in range(k)], axis=1)
        est = pair.reshape(m, k, k) / n @ rhs
        members = groups == g
        confusions[members] = est[members]
    confusions = np.maximum(confusions, CONFUSION_FLOOR)
    confusions /= confusions.sum(axis=1, keepdims=True)
    prior = np.maximum(weights.mean(axis=0), CONFUSION_FLOOR)
    prior /= prior.sum()
    return SpectralEstimate(confusions, prior, means, groups, cond)


def spectral_posteriors(answers: Any, random_state: Any = None, warn: bool = True) -> np.ndarray:
    """Posteriors of the true classes under the spectral estimate (one E-step), shape (n_tasks, K).

    This is the initialisation of ``DawidSkene(init="spectral")``. When the estimate does not
    exist (:class:`SpectralError`) it falls back to the soft majority vote and, if ``warn``,
    says so with a :class:`SpectralFallbackWarning`.

    Examples
    --------
    >>> from crowdmix.datasets import make_crowd
    >>> crowd = make_crowd(n_tasks=500, n_workers=20, n_classes=2, random_state=0)
    >>> spectral_posteriors(crowd.answers, random_state=0).shape
    (500, 2)
    """
    ans = as_answers(answers)
    try:
        est = spectral_estimate(ans, random_state)
    except SpectralError as err:
        from .dawid_skene import majority_posteriors

        if warn:
            warnings.warn(
                f"spectral initialisation not possible ({err}); using the soft majority vote instead",
                SpectralFallbackWarning,
                stacklevel=2,
            )
        return majority_posteriors(ans)
    k = ans.n_classes
    log_params = np.log(est.confusions.reshape(ans.n_workers * k, k))
    resp, _ = posterior(ans.offsets, ans.value_codes, log_params, np.log(est.class_prior))
    return resp
