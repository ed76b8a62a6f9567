"""`cx ab`: JSON keys and values equal the engine's; bad input is one clear error line."""

from __future__ import annotations

import json

import pytest
from scipy import stats

from dashboard.cli.main import main
from experiments.stats import (
    BinaryStats,
    CategoryCounts,
    MeanStats,
    analyze_binary,
    analyze_mean,
    analyze_nps,
)


def run_json(capsys, *argv: str) -> dict:
    assert main(["ab", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_ab_binary_json_keys_and_values(capsys):
    out = run_json(capsys, "binary", "--control", "1000,100", "--variant", "1000,120")
    r = analyze_binary(BinaryStats(1000, 100), BinaryStats(1000, 120))
    assert out["prob_variant_better"] == pytest.approx(r.prob_variant_better, abs=1e-12)
    assert set(out["expected_loss"]) >= {"control", "variant"}
    for key in ("absolute_lift", "relative_lift"):
        assert set(out[key]) == {"mean", "ci_low", "ci_high"}
    assert out["absolute_lift"]["ci_low"] == pytest.approx(r.absolute_lift.ci_low, abs=1e-12)


def test_cli_ab_binary_prior_and_lower_is_better(capsys):
    out = run_json(
        capsys,
        "binary",
        "--control",
        "500,60",
        "--variant",
        "500,45",
        "--prior",
        "2,18",
        "--lower-is-better",
    )
    r = analyze_binary(
        BinaryStats(500, 60), BinaryStats(500, 45), prior=(2, 18), lower_is_better=True
    )
    assert out["prob_variant_better"] == pytest.approx(r.prob_variant_better, abs=1e-12)
    assert out["prob_variant_better"] > 0.9
    assert out["lower_is_better"] is True


def test_cli_ab_binary_zero_conversions_gives_null_free_answer(capsys):
    out = run_json(capsys, "binary", "--control", "20,0", "--variant", "20,2")
    assert 0.88 < out["prob_variant_better"] < 0.89
    assert out["relative_lift"]["mean"] is None or out["relative_lift"]["mean"] > 0
    assert "0 %" in out["message"]


def test_cli_ab_mean_json_matches_engine(capsys):
    out = run_json(
        capsys,
        "mean",
        "--control",
        "100,500,2700",
        "--variant",
        "100,530,3000",
        "--lower-is-better",
    )
    r = analyze_mean(MeanStats(100, 500, 2700), MeanStats(100, 530, 3000), lower_is_better=True)
    assert out["prob_variant_better"] == pytest.approx(r.prob_variant_better, abs=1e-12)
    assert out["expected_loss"]["variant"] == pytest.approx(r.expected_loss.variant, abs=1e-12)


def test_cli_ab_nps_json_matches_engine(capsys):
    out = run_json(capsys, "nps", "--control", "50,30,20", "--variant", "60,25,15")
    r = analyze_nps(CategoryCounts(50, 30, 20), CategoryCounts(60, 25, 15))
    assert out["prob_variant_better"] == pytest.approx(r.prob_variant_better, abs=1e-12)
    assert out["absolute_lift"]["mean"] == pytest.approx(r.absolute_lift.mean)
    assert set(out["relative_lift"]) == {"mean", "ci_low", "ci_high"}


def test_cli_ab_srm_equals_scipy_chisquare(capsys):
    out = run_json(capsys, "srm", "--counts", "5000,5400")
    ref = stats.chisquare([5000, 5400])
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert out["mismatch"] is True
    out = run_json(capsys, "srm", "--counts", "3000,3100,6050", "--weights", "1,1,2")
    assert out["p_value"] == pytest.approx(
        stats.chisquare([3000, 3100, 6050], [3037.5, 3037.5, 6075]).pvalue, rel=1e-9
    )
    assert out["mismatch"] is False


def test_cli_ab_size_10pct_baseline_10pct_mde(capsys):
    assert run_json(capsys, "size", "--baseline", "0.1", "--mde", "0.1")["n_per_arm"] == 14_749


def test_cli_ab_binary_text_output_is_readable(capsys):
    assert main(["ab", "binary", "--control", "10,3", "--variant", "10,5"]) == 0
    text = capsys.readouterr().out
    assert "P(variant better)      80.65%" in text
    assert "absolute lift          +16.67 pp" in text


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["binary", "--control", "10,12", "--variant", "10,2"], "must not exceed n"),
        (["binary", "--control=-5,1", "--variant", "10,2"], "zero or more"),
        (["binary", "--control", "10", "--variant", "10,2"], "expected 2 comma-separated"),
        (["binary", "--control", "10,a", "--variant", "10,2"], "'a' is not a number"),
        (["binary", "--control", "10,1", "--variant", "10,2", "--prior", "0,1"], "positive"),
        (["mean", "--control", "10,5,1", "--variant", "10,5,10"], "sum of squares"),
        (["nps", "--control", "1,2", "--variant", "1,2,3"], "expected 3"),
        (["srm", "--counts", "10,20", "--weights", "1,0"], "positive"),
        (["size", "--baseline", "0.1", "--mde", "0"], "non-zero"),
    ],
)
def test_cli_ab_invalid_input_is_one_clear_error(capsys, argv, expected):
    assert main(["ab", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and err.count("\n") == 1
