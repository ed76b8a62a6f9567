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


# ---------------------------------------------------------------- peeking-safe decisions, --batch
def _write(tmp_path, lines) -> str:
    path = tmp_path / "looks.jsonl"
    path.write_text("\n".join(lines if isinstance(lines[0], str) else map(json.dumps, lines)))
    return str(path)


def _batch(capsys, kind, path) -> list[dict]:
    assert main(["ab", kind, "--batch", path]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_cli_ab_batch_equals_single_calls_look_by_look(capsys, tmp_path):
    from experiments.stats.sequential import effective_n

    looks = [
        ([1000, 100], [1000, 118]),
        ([2100, 205], [1900, 240]),
        ([3000, 300], [3050, 370]),
        ([5200, 515], [5100, 640]),
    ]
    records = [{"id": "exp-a", "control": c, "variant": v, "planned_n": 5000} for c, v in looks]
    records.insert(2, {"id": "exp-b", "control": [800, 80], "variant": [800, 60]})
    out = _batch(capsys, "binary", _write(tmp_path, records))
    assert [(o["id"], o["look"]) for o in out] == [
        ("exp-a", 1),
        ("exp-a", 2),
        ("exp-b", 1),
        ("exp-a", 3),
        ("exp-a", 4),
    ]
    assert set(out[0]) >= {"id", "look", "decision", "p_better", "ci_low", "ci_high", "rule"}
    a_rows = [o for o in out if o["id"] == "exp-a"]
    history: list[float] = []
    for (c, v), row in zip(looks, a_rows, strict=True):
        argv = ["binary", "--control", f"{c[0]},{c[1]}", "--variant", f"{v[0]},{v[1]}"]
        argv += ["--planned-n", "5000"]
        if history:
            argv += ["--looks-before", ",".join(repr(h) for h in history)]
        single = run_json(capsys, *argv)["sequential"]
        history.append(effective_n(c[0], v[0]))
        for key in ("decision", "p_better", "ci_low", "ci_high", "rule"):
            assert single[key] == row[key], key
        # p_better is the engine's exact P(better).
        r = analyze_binary(BinaryStats(*c), BinaryStats(*v))
        assert row["p_better"] == pytest.approx(r.prob_variant_better, abs=1e-9)
    assert [r["rule"] for r in a_rows] == ["O'Brien–Fleming"] * 3 + ["confidence sequence"]
    # With the same final counts and no history, one look at 100 % information ships (z ≈ 4.5),
    # the replayed first look at 20 % does not.
    assert a_rows[0]["decision"] == "keep running" and a_rows[-1]["decision"] == "ship"


def test_cli_ab_mean_batch_with_guardrail_matches_engine(capsys, tmp_path):
    from experiments.stats import decide, guardrail_check
    from experiments.stats.sequential import estimate_and_se, sequential_look

    rec = {
        "id": "aht",
        "control": [2000, 2000 * 400.0, 2000 * (400.0**2 + 120.0**2)],
        "variant": [2000, 2000 * 385.0, 2000 * (385.0**2 + 120.0**2)],
        "planned_n": 2000,
        "lower_is_better": True,
        "guardrails": [
            {
                "control": [2000, 2000 * 4.0, 2000 * 17.0],
                "variant": [2000, 2000 * 3.6, 2000 * 14.0],
                "tolerance": 0.1,
            }
        ],
    }
    (row,) = _batch(capsys, "mean", _write(tmp_path, [rec]))
    c, v = MeanStats(*rec["control"]), MeanStats(*rec["variant"])
    gc = MeanStats(*rec["guardrails"][0]["control"])
    gv = MeanStats(*rec["guardrails"][0]["variant"])
    est, se = estimate_and_se(c, v)
    look = sequential_look(est, se, [2000], planned_n=2000, lower_is_better=True, alpha_worse=0.025)
    g_est, g_se = estimate_and_se(gc, gv)
    g_look = sequential_look(g_est, g_se, [2000], planned_n=2000, alpha_worse=0.025)
    d = decide(
        analyze_mean(c, v, lower_is_better=True),
        [guardrail_check(gc, gv, tolerance=0.1, name="guardrail 1")],
        sequential=look,
        guardrail_looks=[g_look],
    )
    assert (row["decision"], row["ci_low"], row["ci_high"]) == (d.action, look.ci_low, look.ci_high)
    assert row["decision"] == "stop"  # the guardrail dropped by 0.4 ± 0.06: credibly harmed


@pytest.mark.parametrize(
    "line,expected",
    [
        ('{"id": "a", "control": [10, 1]}', "line 2: 'variant' is missing"),
        ('{"id": "a", "control": [10, 12], "variant": [10, 1]}', "line 2: control: x (succ"),
        ('{"id": "a", "control": [10, 1, 3], "variant": [10, 1]}', "line 2: control must be [n,"),
        ("not json", "line 2: not valid JSON"),
        ('{"id": "a", "control": [10, 1], "variant": [10, 1], "planned_n": -3}', "planned_n"),
        ('{"id": "a", "control": [10, 1], "variant": [10, 1], "extra": 1}', "unknown key(s) extra"),
        (
            '{"id": "a", "control": [10, 1], "variant": [10, 1], "guardrails": [{"control": '
            '[10, 1], "variant": [10, 1]}]}',
            "line 2: guardrail 1: tolerance",
        ),
    ],
)
def test_cli_ab_batch_malformed_line_is_one_error_with_line_number(
    capsys, tmp_path, line, expected
):
    good = '{"id": "a", "control": [100, 10], "variant": [100, 12]}'
    path = _write(tmp_path, [good, line])
    assert main(["ab", "binary", "--batch", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # all-or-nothing: nothing printed before the error
    assert expected in captured.err and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1 and path in captured.err


def test_cli_ab_batch_and_arms_are_exclusive(capsys, tmp_path):
    assert main(["ab", "binary", "--control", "10,1"]) == 2
    assert "--control and --variant" in capsys.readouterr().err
    path = _write(tmp_path, ['{"id": "a", "control": [100, 10], "variant": [100, 12]}'])
    assert main(["ab", "binary", "--batch", path, "--control", "10,1"]) == 2
    assert "one or the other" in capsys.readouterr().err
