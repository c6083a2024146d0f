"""Exceptions and warnings raised by crowdmix."""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = ["ConvergenceWarning", "InputError"]


class InputError(ValueError):
    """Input data that crowdmix cannot use, with a message naming the fault and the fix.

    Subclasses :class:`ValueError`, so ``except ValueError`` catches it.
    """


class ConvergenceWarning(_SklearnConvergenceWarning):
    """EM stopped at ``max_iter`` before the log-likelihood gain fell below ``tol``.

    Subclasses scikit-learn's ``ConvergenceWarning`` so existing warning filters apply.
    """
