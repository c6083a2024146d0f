"""M-MSR: worker skills by robust rank-one completion of the worker agreement matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .answers import CrowdAnswers, encode_for_workers
from .base import BaseAggregator, clamp_codes, labels_series, proba_frame
from .exceptions import InputError
from .kernels.mmsr import mmsr_iterate
from .wawa import weighted_vote

__all__ = ["MMSR", "agreement_covariance", "sign_determination"]


def agreement_covariance(answers: CrowdAnswers) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The worker covariance matrix of M-MSR on the pairs of workers who share tasks.

    For workers ``i != j`` with ``n_ij > 0`` common tasks, of which they label ``a_ij`` alike,
    ``C_ij = K / (K - 1) * a_ij / n_ij - 1 / (K - 1)``; under the one-coin model its expectation
    is ``s_i s_j`` with ``s_i = (K p_i - 1) / (K - 1)`` (``p_i`` = accuracy).

    Returns
    -------
    cov : scipy.sparse.csr_matrix (n_workers, n_workers)
        ``C_ij`` on the observed pairs (explicit zeros kept: the pattern is the observed set).
    common : scipy.sparse.csr_matrix (n_workers, n_workers)
        ``n_ij`` (zero diagonal).
    """
    m, k = answers.n_workers, answers.n_classes
    n = answers.n_tasks
    ones = np.ones(answers.n_answers)
    b = sp.csr_matrix((ones, (answers.task, answers.worker)), shape=(n, m))
    common = (b.T @ b).tocsr()
    common.setdiag(0)
    common.eliminate_zeros()
    z = sp.csr_matrix((ones, (answers.task, answers.value_codes)), shape=(n, m * k))
    agree = sp.csr_matrix((m, m))
    for a in range(k):
        za = z[:, a::k]  # tasks x workers: answered a
        agree = agree + (za.T @ za)
    agree = agree.tocsr()
    # C on the pattern of `common`: gather agreements at the observed entries
    rows = np.repeat(np.arange(m), np.diff(common.indptr))
    cols = common.indices
    a_obs = np.asarray(agree[rows, cols]).ravel()
    c_vals = k / (k - 1) * a_obs / common.data - 1.0 / (k - 1)
    cov = sp.csr_matrix((c_vals, cols.copy(), common.indptr.copy()), shape=(m, m))
    return cov, common


def _smallest_eigvec(a: sp.csr_matrix) -> np.ndarray:
    """Eigenvector of the random-walk matrix ``D^-1 A`` for its smallest eigenvalue (closest to
    -1: the 2-colouring direction), via the symmetric normalisation ``D^-1/2 A D^-1/2``."""
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(deg)
    sym = sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)
    size = sym.shape[0]
    if size <= 400:
        _, vecs = np.linalg.eigh(sym.toarray())
        vec = vecs[:, 0]
    else:
        from scipy.sparse.linalg import eigsh

        _, vecs = eigsh(sym, k=1, which="SA", v0=np.ones(size))
        vec = vecs[:, 0]
    return vec * inv_sqrt


def sign_determination(cov: sp.csr_matrix) -> np.ndarray:
    """Signs of the workers' ``s_i`` from the signs of the observed ``C_ij`` (Ma & Olshevsky).

    Build a graph on the workers: an observed pair with ``C_ij < 0`` (opposite signs) is an
    edge; a pair with ``C_ij > 0`` (same sign) becomes a new node joined to both workers. A
    consistent signing is a 2-colouring of this graph, read off the signs of the eigenvector of
    its random-walk matrix for the eigenvalue closest to -1. Each connected component is solved
    on its own and oriented so that most of its workers come out positive (better than random);
    workers without observed partners get sign 0.

    Returns
    -------
    ndarray of float (n_workers,) with values -1, 0, +1.
    """
    m = cov.shape[0]
    upper = sp.triu(cov, k=1).tocoo()
    pos = upper.data > 0
    neg = upper.data < 0
    n_new = int(pos.sum())
    size = m + n_new
    new_ids = m + np.arange(n_new)
    rows = np.concatenate([upper.row[neg], upper.col[neg], upper.row[pos], upper.col[pos],
                           new_ids, new_ids])
    cols = np.concatenate([upper.col[neg], upper.row[neg], new_ids, new_ids,
                           upper.row[pos], upper.col[pos]])
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    signs = np.zeros(m)
    n_comp, comp = connected_components(graph, directed=False)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(n_comp + 1))
    for c in range(n_comp):
        nodes = order[bounds[c]:bounds[c + 1]]
        workers = nodes[nodes < m]
        if len(nodes) == 1:
            continue  # an isolated worker: no information about its sign
        vec = _smallest_eigvec(graph[nodes][:, nodes])
        s = np.sign(vec[: len(workers)])  # workers come first: nodes are sorted by id
        s[s == 0] = 1.0
        if s.sum() < 0:
            s = -s
        signs[workers] = s
    return signs


class MMSR(BaseAggregator):
    """Matrix mean-subsequence-reduced (M-MSR) aggregation of Ma & Olshevsky.

    Under the one-coin model, the agreement covariance ``C`` of two workers (see
    :func:`agreement_covariance`) has expectation ``s_i s_j`` with
    ``s_i = (K p_i - 1) / (K - 1)`` and ``p_i`` the worker's accuracy. M-MSR estimates
    ``|s|`` by rank-one completion of ``|C|`` on the observed pairs, robust to adversarial
    workers (trimmed means, :func:`crowdmix.kernels.mmsr.mmsr_iterate`), recovers the signs
    (:func:`sign_determination`), and labels tasks by the vote weighted with
    ``log((K - 1) p_i / (1 - p_i))``, i.e. the one-coin posterior.

    Parameters
    ----------
    max_iter : int, default=10000
        Maximum number of M-MSR sweeps.
    tol : float, default=1e-10
        Stop when ``||u v^T - u' v'^T||_F`` falls below this.
    n_trim : int or None, default=None
        ``F``, the number of extreme values trimmed on each side of every update. ``None``:
        ``max(0, floor(d / 2) - 1)`` with ``d`` the fewest partners of a worker who has any
        (crowd-kit uses the fewest partners over all workers, which is 0 as soon as one
        worker shares no task with anybody, and then keeps only the largest value; see the
        docs).
    random_state : int, Generator or None, default=0
        Seed of the uniform starting vector (``u = v`` at the start).

    Attributes
    ----------
    classes_ : pandas.Index
    labels_ : pandas.Series
        Weighted-vote label per task. Where every worker of a task has weight 0 (accuracy
        ``1/K``, e.g. no shared tasks), the plain vote decides.
    proba_ : pandas.DataFrame
        One-coin posterior ``softmax(scores_)`` (uniform class prior).
    scores_ : pandas.DataFrame
        Sum of the log-odds weights of the workers who chose each class.
    skills_ : pandas.Series
        Estimated accuracy ``p_i = s_i (K - 1) / K + 1 / K`` of each worker, with ``s_i``
        clipped to ``[-1 / (K - 1) + 1 / sqrt(n_tasks), 1 - 1 / sqrt(n_tasks)]`` (so that
        ``0 < p_i < 1``).
    weights_ : pandas.Series
        Vote weight ``log((K - 1) p_i / (1 - p_i))`` (crowd-kit's ``skills_``).
    loss_history_ : ndarray
        ``||u v^T - u' v'^T||_F`` per sweep.
    n_iter_ : int
    converged_ : bool

    References
    ----------
    Ma, Q. and Olshevsky, A. (2020). Adversarial crowdsourcing through robust rank-one matrix
    completion. *Advances in Neural Information Processing Systems 33*. arXiv:2010.12181.

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix.mmsr import MMSR
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> acc = np.r_[np.full(8, 0.8), np.full(4, 0.2)]          # 4 adversaries
    >>> crowd = make_one_coin_crowd(n_tasks=500, n_workers=12, n_classes=2, accuracies=acc,
    ...                             answers_per_task=6, random_state=0)
    >>> mmsr = MMSR().fit(crowd.answers)
    >>> bool((mmsr.skills_.to_numpy()[8:] < 0.5).all())          # adversaries found
    True
    >>> bool((mmsr.labels_ == crowd.truth.loc[mmsr.labels_.index]).mean() > 0.9)
    True
    """

    def __init__(
        self,
        max_iter: int = 10000,
        tol: float = 1e-10,
        n_trim: int | None = None,
        random_state: Any = 0,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.n_trim = n_trim
        self.random_state = random_state

    def _check_params(self) -> None:
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise InputError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not self.tol >= 0:
            raise InputError(f"tol must be >= 0, got {self.tol!r}")
        if self.n_trim is not None and not (
            isinstance(self.n_trim, (int, np.integer)) and self.n_trim >= 0
        ):
            raise InputError(f"n_trim must be None or an integer >= 0, got {self.n_trim!r}")

    def fit(self, answers: Any, true_labels: Any = None) -> MMSR:
        """Estimate the skills by M-MSR and vote with them.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels: those tasks get them in the output (they do not change the skills).

        Returns
        -------
        self
        """
        self._check_params()
        ans = self._encode(answers)
        k, m, n = ans.n_classes, ans.n_workers, ans.n_tasks
        cov, common = agreement_covariance(ans)
        degree = np.diff(common.indptr)
        if self.n_trim is None:
            connected = degree[degree > 0]
            n_trim = max(0, int(connected.min()) // 2 - 1) if connected.size else 0
        else:
            n_trim = int(self.n_trim)
        rng = np.random.default_rng(self.random_state)
        u0 = rng.uniform(size=m)
        x_abs = np.abs(cov.data)
        u, v, losses = mmsr_iterate(
            cov.indptr.astype(np.int64), cov.indices.astype(np.int64), x_abs, u0, u0.copy(),
            n_trim, n, int(self.max_iter), float(self.tol),
        )
        norm_u, norm_v = np.linalg.norm(u), np.linalg.norm(v)
        scale = np.sqrt(norm_u / norm_v) if norm_v > 0 and norm_u > 0 else 1.0
        s_abs = u / scale
        s = sign_determination(cov) * s_abs
        s = np.minimum(s, 1.0 - 1.0 / np.sqrt(n))
        s = np.maximum(s, -1.0 / (k - 1) + 1.0 / np.sqrt(n))
        p = s * (k - 1) / k + 1.0 / k
        weights = np.log(p * (k - 1) / (1.0 - p))
        scores = weighted_vote(ans, weights)
        shifted = scores - scores.max(axis=1, keepdims=True)
        resp = np.exp(shifted)
        resp /= resp.sum(axis=1, keepdims=True)
        codes = np.argmax(scores, axis=1)
        flat = np.all(scores == 0.0, axis=1)
        if flat.any():
            codes[flat] = np.argmax(ans.vote_counts[flat], axis=1)
        clamp = clamp_codes(ans, true_labels)
        known = clamp >= 0
        if known.any():
            codes[known] = clamp[known]
            resp[known] = 0.0
            resp[np.flatnonzero(known), clamp[known]] = 1.0
        self._store(ans, resp, codes)
        self.workers_ = pd.Index(ans.workers, name="worker")
        self.skills_ = pd.Series(p, index=self.workers_, name="skill")
        self.weights_ = pd.Series(weights, index=self.workers_, name="weight")
        self.scores_ = proba_frame(ans.tasks, ans.classes, scores)
        self.n_trim_ = n_trim
        self.loss_history_ = losses
        self.n_iter_ = len(losses)
        self.converged_ = bool(len(losses) and losses[-1] < self.tol)
        return self

    def predict(self, answers: Any) -> pd.Series:
        """Weighted vote on new tasks with the fitted weights (workers seen during ``fit``)."""
        self._check_fitted()
        new = encode_for_workers(answers, self.workers_, self.classes_)
        scores = weighted_vote(new, self.weights_.to_numpy())
        return labels_series(new.tasks, new.classes, np.argmax(scores, axis=1))
