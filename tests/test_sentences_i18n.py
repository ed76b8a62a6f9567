"""Sentences from experiments/ and metrics/ in Swedish: every decision reason carries a note
(key + values) the page words in the UI language, one per English reason, every key in both
catalogues, numbers in metrics.units; the CLV model choice worded from its counts."""

from __future__ import annotations

import re

import pytest

from dashboard.experiment_sections import decision_reasons, reason_sentence
from dashboard.i18n import catalogue, use_language
from experiments.stats import (
    BinaryStats,
    CategoryCounts,
    analyze_binary,
    analyze_nps,
    guardrail_check,
)
from experiments.stats.decision import MIN_UNITS_PER_ARM, decide
from experiments.stats.results import SrmResult
from experiments.stats.sequential import estimate_and_se, sequential_look


def _look(c: BinaryStats, v: BinaryStats, history, planned, **kw):
    est, se = estimate_and_se(c, v)
    return sequential_look(est, se, history, planned_n=planned, **kw)


def _decisions():
    """One decision down each branch of experiments.stats.decision."""
    c, v = BinaryStats(10_000, 1000), BinaryStats(10_000, 1150)
    flat = BinaryStats(10_000, 1000)
    gc, gv = BinaryStats(10_000, 500), BinaryStats(10_000, 600)
    harm = guardrail_check(gc, gv, tolerance=0.002, lower_is_better=True, name="csat")
    safe = guardrail_check(gc, gc, tolerance=0.05, lower_is_better=True, name="csat")
    primary = _look(flat, flat, [10_000], 10_000, alpha_worse=0.025)
    harmed = _look(gc, gv, [10_000], 10_000, alpha_worse=0.025, lower_is_better=True)
    srm = SrmResult((600, 400), (500.0, 500.0), 40.0, 1, 1e-5, True)
    yield decide(analyze_binary(c, v), srm=srm)
    yield decide(analyze_binary(BinaryStats(MIN_UNITS_PER_ARM - 1, 5), BinaryStats(500, 400)))
    yield decide(analyze_binary(c, v), [safe], sequential=_look(c, v, [5000, 10_000], 10_000))
    yield decide(analyze_binary(c, v), sequential=_look(c, v, [2000], 20_000))
    yield decide(analyze_binary(flat, flat), [harm], sequential=primary, guardrail_looks=[harmed])
    yield decide(analyze_binary(v, c), sequential=_look(v, c, [10_000], 10_000))
    yield decide(analyze_binary(c, v), [safe])  # Bayesian ship
    yield decide(analyze_binary(v, c))  # Bayesian stop: worse
    yield decide(analyze_binary(BinaryStats(500, 50), BinaryStats(500, 55)), [harm])
    yield decide(analyze_nps(CategoryCounts(3300, 4000, 2700), CategoryCounts(3500, 4000, 2500)))


def test_every_reason_has_a_note_whose_key_is_in_both_catalogues() -> None:
    en, sv = catalogue("en"), catalogue("sv")
    seen = set()
    for d in _decisions():
        assert len(d.notes) == len(d.reasons), d
        stack = list(d.notes)
        while stack:
            key, values = stack.pop()
            seen.add(key)
            assert key in en and key in sv, key
            stack += [v for kind, v in values.values() if kind == "note"]
    assert len(seen) >= 12  # the branches above reach most of the wordings


def test_swedish_reasons_are_worded_with_swedish_numbers() -> None:
    english_words = re.compile(r"\b(chance|the variant|Guardrail|boundary|needed)\b")
    with use_language("sv"):
        for d in _decisions():
            texts = decision_reasons(d)
            assert len(texts) == len(d.reasons)
            for text in texts:
                assert "{" not in text and not english_words.search(text), text
                # Per cent with a decimal comma and a space ("15,0 %"), never "15.0%".
                assert not re.search(r"\d\.\d+ ?%|\d%", text), text


def test_english_reasons_are_the_recorded_ones() -> None:
    d = decide(analyze_binary(BinaryStats(10_000, 1000), BinaryStats(10_000, 1150)))
    assert decision_reasons(d) == list(d.reasons)


def test_a_swedish_reason_read_by_hand() -> None:
    d = decide(analyze_binary(BinaryStats(MIN_UNITS_PER_ARM - 1, 5), BinaryStats(500, 10)))
    p = d.notes[0][1]["p"][1]
    assert 0.001 < p < 0.999  # away from "< 0,1 %" / "> 99,9 %", which a model never reaches
    shown = f"{p * 100:.1f}".replace(".", ",")  # hand-written: one decimal, decimal comma
    with use_language("sv"):
        assert reason_sentence(d.notes[0]) == (
            f"För få enheter för att besluta: {MIN_UNITS_PER_ARM - 1} i den mindre gruppen, minst "
            f"{MIN_UNITS_PER_ARM} per grupp behövs ({shown} % chans att varianten är bättre "
            "hittills)."
        )


@pytest.mark.parametrize(
    ("value", "en", "sv"),
    [(0.012345, "0.0123", "0,0123"), (4.5, "4.5", "4,5"), (1234.0, "1,234", "1\u00a0234")],
)
def test_significant_figures(value, en, sv) -> None:
    from metrics.units import format_significant

    assert format_significant(value, lang="en") == en
    assert format_significant(value, lang="sv") == sv


def test_clv_model_reason_in_swedish_and_english() -> None:
    from dashboard.churn_panels import model_reason
    from metrics.retention.contractual import ModelChoice

    choice = ModelChoice("contractual", "the metrics layer's words", 1234, 987, 456)
    assert model_reason(choice) == "the metrics layer's words"  # English: as recorded
    with use_language("sv"):
        assert model_reason(choice) == (
            "80 % av 1\u00a0234 kunder med tre eller fler fakturor faktureras ungefär månadsvis "
            "(mediangap 27–33 dagar) och 456 kunder har ett registrerat churndatum: ett "
            "abonnemang, så kvarhållandet modelleras per månad (sBG) och köpmodellen (BG/NBD) "
            "skulle ta regelbundna fakturor för lojala köpare"
        )
        irregular = ModelChoice("non-contractual", "", 10, 2, 0)
        assert model_reason(irregular).endswith(
            "; inga churndatum är registrerade, så kunder lämnar obemärkt och köpmodellen "
            "(BG/NBD + Gamma-Gamma) gäller"
        )
