"""Bayesian A/B statistics: pure functions from sufficient statistics to result dataclasses."""

from experiments.stats.binary import analyze_binary, binary_posterior
from experiments.stats.continuous import analyze_mean, mean_posterior
from experiments.stats.cuped import cuped, cuped_adjust, cuped_theta
from experiments.stats.decision import KEEP_RUNNING, SHIP, STOP, decide, verdict
from experiments.stats.guardrails import guardrail_check
from experiments.stats.inputs import (
    BinaryStats,
    CategoryCounts,
    CovariateStats,
    MeanStats,
    RatioStats,
)
from experiments.stats.multi import analyze_multi
from experiments.stats.nps import analyze_nps, nps_moments, nps_posterior
from experiments.stats.planning import assurance_binary, sample_size_binary, sample_size_mean
from experiments.stats.posteriors import arm_posterior, compare
from experiments.stats.ratio import analyze_ratio, ratio_posterior
from experiments.stats.results import (
    ArmSummary,
    AssuranceResult,
    ComparisonResult,
    Decision,
    ExpectedLoss,
    GuardrailResult,
    Interval,
    MultiArmResult,
    SrmResult,
)
from experiments.stats.sequential import (
    SequentialLook,
    cs_boundary,
    estimate_and_se,
    obf_boundaries,
    sequential_look,
)
from experiments.stats.srm import srm_check

__all__ = [
    "KEEP_RUNNING",
    "SHIP",
    "STOP",
    "ArmSummary",
    "AssuranceResult",
    "BinaryStats",
    "CategoryCounts",
    "ComparisonResult",
    "CovariateStats",
    "Decision",
    "ExpectedLoss",
    "GuardrailResult",
    "Interval",
    "MeanStats",
    "MultiArmResult",
    "RatioStats",
    "SequentialLook",
    "SrmResult",
    "analyze_binary",
    "analyze_mean",
    "analyze_multi",
    "analyze_nps",
    "analyze_ratio",
    "arm_posterior",
    "assurance_binary",
    "binary_posterior",
    "compare",
    "cuped",
    "cuped_adjust",
    "cs_boundary",
    "cuped_theta",
    "decide",
    "estimate_and_se",
    "guardrail_check",
    "mean_posterior",
    "nps_moments",
    "nps_posterior",
    "obf_boundaries",
    "ratio_posterior",
    "sample_size_binary",
    "sample_size_mean",
    "sequential_look",
    "srm_check",
    "verdict",
]
