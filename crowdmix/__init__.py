"""crowdmix: clean labels from noisy annotators and cluster discrete data with fast EM for
mixtures of discrete product distributions (Zhao & Zucker)."""

from .answers import CrowdAnswers, as_answers, read_answers
from .benchmarking import run_benchmark
from .categorical import CategoricalEncoder, UnseenCategoryWarning
from .dawid_skene import DawidSkene
from .discrete_mixture import DiscreteMixture, EmptyRowsWarning, make_discrete_mixture
from .exceptions import ConvergenceWarning, InputError
from .experts import residual_cmi, select_n_experts
from .feature_relevance import feature_informativeness, select_features
from .glad import GLAD
from .kos import KOS
from .mace import MACE
from .majority_vote import MajorityVote
from .mmsr import MMSR
from .model_selection import ComponentSelection, select_n_components
from .mutual_information import one_coin_skills, pairwise_mutual_information, rank_workers
from .stagewise import StagewiseEM, stagewise_fit
from .wawa import Wawa, ZeroBasedSkill

__version__ = "0.1.0"

__all__ = [
    "GLAD",
    "KOS",
    "MACE",
    "MMSR",
    "CategoricalEncoder",
    "ComponentSelection",
    "ConvergenceWarning",
    "CrowdAnswers",
    "DawidSkene",
    "DiscreteMixture",
    "EmptyRowsWarning",
    "InputError",
    "MajorityVote",
    "StagewiseEM",
    "UnseenCategoryWarning",
    "Wawa",
    "ZeroBasedSkill",
    "as_answers",
    "feature_informativeness",
    "make_discrete_mixture",
    "one_coin_skills",
    "pairwise_mutual_information",
    "rank_workers",
    "residual_cmi",
    "select_features",
    "select_n_components",
    "select_n_experts",
    "read_answers",
    "run_benchmark",
    "stagewise_fit",
    "__version__",
]
