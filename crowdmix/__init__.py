"""crowdmix: clean labels from noisy annotators and cluster discrete data with fast EM for
mixtures of discrete product distributions (Zhao & Zucker)."""

from .answers import CrowdAnswers, as_answers, read_answers
from .dawid_skene import DawidSkene
from .exceptions import ConvergenceWarning, InputError
from .majority_vote import MajorityVote

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "CrowdAnswers",
    "DawidSkene",
    "InputError",
    "MajorityVote",
    "as_answers",
    "read_answers",
    "__version__",
]
