"""The parameters of the sample world: vocabularies, rates and the planted experiment truths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from metrics.catalogue import CATALOGUE, SATISFACTION_BANDS
from metrics.schema import CHANNELS, ISSUE_TYPES

# -- customers -------------------------------------------------------------------------------
# Age bands follow the Tele2/Ipsos survey (18-34 ... 75+), so the seed's age facts map 1:1.
AGE_BANDS: tuple[str, ...] = ("18-34", "35-49", "50-64", "65-74", "75+")
AGE_P = np.array([0.27, 0.26, 0.25, 0.14, 0.08])

SEGMENTS: tuple[str, ...] = ("consumer", "business", "enterprise")
SEGMENT_P = np.array([0.82, 0.14, 0.04])
# Median monthly revenue (SEK) by segment; tiers multiply it.
SEGMENT_REVENUE = np.array([349.0, 1900.0, 14000.0])
TIERS: tuple[str, ...] = ("basic", "standard", "premium")
TIER_P = np.array([0.50, 0.35, 0.15])
TIER_REVENUE = np.array([1.0, 1.5, 2.4])

# The 21 Swedish counties (län), weighted by population (millions, SCB 2023, rounded).
REGIONS: tuple[str, ...] = (
    "Stockholm", "Västra Götaland", "Skåne", "Östergötland", "Uppsala", "Jönköping",
    "Halland", "Örebro", "Södermanland", "Dalarna", "Gävleborg", "Värmland", "Västmanland",
    "Västerbotten", "Norrbotten", "Kalmar", "Västernorrland", "Kronoberg", "Blekinge",
    "Jämtland", "Gotland",
)  # fmt: skip
REGION_POP = np.array(
    [2.45, 1.76, 1.42, 0.47, 0.40, 0.37, 0.34, 0.31, 0.30, 0.29, 0.29, 0.28, 0.28, 0.28,
     0.25, 0.25, 0.24, 0.20, 0.16, 0.13, 0.06]
)  # fmt: skip
REGION_P = REGION_POP / REGION_POP.sum()

# Tenure of customers already there when the window opens: exponential, mean in years.
TENURE_MEAN_YEARS = 4.5
MAX_TENURE_YEARS = 25.0
# Share of the customer table that signs up inside the window, per month of window.
NEW_PER_MONTH = 0.018
SHORT_TENURE_DAYS = 2 * 365  # "up to 2 years' tenure" churn more (25 % vs 20 % think of it)
# Months simulated before the window and then dropped, so churn is stationary from the first
# window month: the longest churn cause is a 2nd reminder (invoice + 60 days, acting within 45
# days), and a survey answer acts for 75 days (+ 14 days' notice).
BURN_IN_MONTHS = 4

# -- contacts --------------------------------------------------------------------------------
# Primary (not follow-up) contacts per active customer-month; follow-ups add about 12 %,
# so 1M customers over 12 months give about 10M contacts (measured: 100k customers, seed 42
# -> 1.00M contacts; 10 per customer-year).
CONTACT_RATE = 0.91
SEGMENT_CONTACT_MULT = np.array([1.0, 1.3, 1.6])
AGE_CONTACT_MULT = np.array([0.9, 1.0, 1.0, 1.1, 1.15])
FRAILTY_SHAPE = 2.0  # gamma heterogeneity: a few customers call a lot

CH = {name: i for i, name in enumerate(CHANNELS)}
IT = {name: i for i, name in enumerate(ISSUE_TYPES)}

# Channel of a contact: "phone about 60 %, then email and logged-in web; SMS and chatbots
# least", with age tilts (18-34: 1 in 5 prefers personal chat, 65-74: 1 in 30).
_CH_BASE = {
    "phone": 0.61, "email": 0.125, "web": 0.085, "chat": 0.055, "app": 0.04,
    "web_form": 0.03, "in_person": 0.025, "social": 0.02, "video": 0.018,
    "chatbot": 0.01, "sms": 0.008,
}  # fmt: skip
_CH_AGE_MULT = {  # per age band 18-34, 35-49, 50-64, 65-74, 75+
    "phone": (0.75, 0.95, 1.05, 1.2, 1.3),
    "chat": (2.6, 1.3, 0.7, 0.25, 0.15),
    "chatbot": (2.0, 1.2, 0.7, 0.3, 0.2),
    "app": (2.0, 1.3, 0.7, 0.3, 0.15),
    "social": (2.2, 1.2, 0.6, 0.3, 0.2),
    "in_person": (0.6, 0.8, 1.0, 1.6, 2.2),
    "web": (1.1, 1.1, 1.0, 0.8, 0.6),
    "sms": (1.3, 1.0, 0.9, 0.8, 0.7),
}


def _channel_matrix() -> np.ndarray:
    m = np.zeros((len(AGE_BANDS), len(CHANNELS)))
    for name, p in _CH_BASE.items():
        m[:, CH[name]] = p * np.array(_CH_AGE_MULT.get(name, (1.0,) * len(AGE_BANDS)))
    return m / m.sum(axis=1, keepdims=True)


CHANNEL_P_BY_AGE = _channel_matrix()

ISSUE_P = np.array([0.27, 0.24, 0.10, 0.12, 0.05, 0.08, 0.05, 0.09])  # ISSUE_TYPES order

# Follow-up (repeat) contacts: a contact not resolved at first contact brings the customer
# back on the same issue within 7 days with this probability.
FOLLOW_UP_P = 0.45
FOLLOW_UP_UNRESOLVED_P = 0.6

# Synchronous channels have a queue (wait_s, abandonment); the rest are asynchronous.
QUEUE_CHANNELS = ("phone", "chat", "video", "in_person")
# Median seconds and log-sd of the wait (queue) / first response by channel.
WAIT = {
    "phone": (300.0, 1.1), "chat": (38.0, 0.8), "video": (60.0, 0.8),
    "in_person": (240.0, 0.7), "chatbot": (2.0, 0.3),
}  # fmt: skip
ASYNC_FIRST_RESPONSE = {
    "email": (18000.0, 1.0), "web": (14400.0, 1.0), "web_form": (21600.0, 1.0),
    "app": (5400.0, 1.0), "sms": (2400.0, 1.0), "social": (7200.0, 1.0),
}  # fmt: skip
# Patience before hanging up (phone, video) or closing the chat window.
PATIENCE = {"phone": (2800.0, 1.0), "chat": (420.0, 1.0), "video": (600.0, 1.0)}
# Handling time of agent-handled contacts (median s, log-sd); bot-only chatbot sessions.
HANDLE = {
    "phone": (360.0, 0.6), "email": (300.0, 0.7), "chat": (540.0, 0.6),
    "chatbot": (480.0, 0.6), "app": (300.0, 0.7), "web": (240.0, 0.7),
    "web_form": (300.0, 0.7), "sms": (150.0, 0.7), "social": (240.0, 0.7),
    "in_person": (600.0, 0.5), "video": (480.0, 0.6),
}  # fmt: skip
BOT_SESSION = (150.0, 0.6)
BOT_ONLY_P = 0.55  # chatbot contacts the bot finishes without a human (automation)

ESCALATION_P = 0.06
ESCALATION_ISSUE_ADD = {"technical": 0.06, "complaint": 0.09, "cancellation": 0.03}

# First contact resolution probability of a handled contact, additive pieces.
FCR_CHANNEL = {
    "phone": 0.74, "email": 0.64, "chat": 0.76, "chatbot": 0.52, "app": 0.70,
    "web": 0.72, "web_form": 0.62, "sms": 0.62, "social": 0.56, "in_person": 0.84,
    "video": 0.78,
}  # fmt: skip
FCR_BOT_ONLY = 0.66
FCR_ISSUE = {
    "billing": 0.0, "technical": -0.06, "order": 0.05, "account": 0.05,
    "cancellation": -0.04, "complaint": -0.14, "feedback": -0.06, "other": 0.0,
}  # fmt: skip
FCR_ESCALATED = -0.25

# Resolution of contacts not resolved at first contact (shares of those contacts).
UNRESOLVED_P = 0.25
UNRESOLVED_ISSUE_ADD = {"complaint": 0.15, "feedback": 0.15}
LATE_P = 0.24  # resolved after more than 7 days
SAME_DAY_LATER_P = 0.15  # resolved later the same day
FCR_NEXT_DAYS_P = 0.08  # FCR contacts whose case is closed 1-3 days later (paperwork)

# -- surveys ---------------------------------------------------------------------------------
SURVEY_P = 0.45
SURVEY_QUARANTINE_DAYS = 90
# Ordinal logit for CSAT 1-5: latent = sum of effects + logistic noise, cut at CSAT_CUTS.
CSAT_BASE = -0.1
CSAT_CUTS = np.array([-2.9, -1.85, -0.8, 0.95])
CSAT_CHANNEL = {
    "phone": 0.05, "email": -0.05, "chat": 0.6, "chatbot": -1.6, "app": 0.2,
    "web": 0.6, "web_form": -0.15, "sms": -0.1, "social": -0.2, "in_person": 0.9,
    "video": 0.3,
}  # fmt: skip
CSAT_ISSUE = {
    "billing": -0.1, "technical": -0.15, "order": 0.25, "account": 0.25,
    "cancellation": -0.35, "complaint": -1.6, "feedback": -1.7, "other": 0.05,
}  # fmt: skip
CSAT_FCR = 0.75
CSAT_UNRESOLVED = -1.2
CSAT_LATE = -0.8
CSAT_ESCALATED = -0.3
CSAT_LONG_WAIT = -0.5  # phone wait over 10 minutes
CSAT_DISPOSITION = 1.2  # per sd of the customer's disposition
CSAT_AGENT_SD = 0.25
# NPS and CES drawn around a centre per CSAT answer (correlated, not identical).
NPS_BY_CSAT = np.array([1.2, 3.4, 6.0, 8.2, 9.5])
NPS_SD = 1.2
CES_BY_CSAT = np.array([6.0, 5.0, 3.8, 2.6, 1.7])  # effort: 1 = very easy
CES_SD = 0.9
CES_ESCALATED = 0.6
CES_FOLLOW_UP = 0.7
NPS_MISSING_P = 0.05
CES_MISSING_P = 0.12
COMMENT_P = 0.18
COMMENTS_BY_CSAT: tuple[tuple[str, ...], ...] = (
    ("Ärendet löstes aldrig.", "Never resolved, I gave up.", "Kunde inte hjälpa mig alls."),
    ("Alldeles för lång väntetid.", "Too slow, had to call back twice.", "Krångligt."),
    ("Okej, men tog lång tid.", "It was fine.", "Varken bra eller dåligt."),
    ("Snabb hantering, tack!", "Helpful agent.", "Bra bemötande."),
    ("Fantastisk service!", "Solved in minutes.", "Mycket kunnig personal, snabbt svar."),
)

# -- churn -----------------------------------------------------------------------------------
# Share thinking of switching at the invoice by satisfaction (very dissatisfied .. very
# satisfied, i.e. CSAT 1..5). Read as a cumulative probability 1 - exp(-h), each band has a
# hazard h; at each invoice the customer's latest survey answer of the last
# SURVEY_LOOKBACK_DAYS gives a churn probability 1 - exp(-h x SURVEY_CHURN_SCALE) (about 2-3
# invoices fall in the 90 days after an answer). Churn within 90 days of an answer then keeps
# the table's order and rough ratios (measured at 100k customers: 25/22/11/8/4 % for CSAT
# 1..5) while monthly churn stays realistic (about 2.6 %, flat from the first window month).
# The table is the catalogue's reference for churn_by_satisfaction (one copy), in CSAT order.
_SWITCHING = CATALOGUE["churn_by_satisfaction"].band_targets
SWITCH_BY_CSAT = np.array([_SWITCHING[band] for band in SATISFACTION_BANDS])
SWITCH_HAZARD = -np.log1p(-SWITCH_BY_CSAT)
SURVEY_CHURN_SCALE = 0.08
SURVEY_LOOKBACK_DAYS = 75
NOTICE_DAYS = 14  # the switch happens within two weeks of deciding
SHORT_TENURE_CHURN_MULT = 1.6  # 25 % vs 20 % consider switching; new customers act on it more
BASE_HAZARD_MONTH = 0.0015  # churn without a triggering event, per month
SHORT_TENURE_HAZARD_MULT = 3.5
PAPER_FEE = 29.0  # SEK "aviavgift" on paper invoices
REMINDER_FEE = 60.0  # SEK per reminder ("påminnelseavgift")
FEE_CHURN_P = 0.002  # per invoice carrying a fee (44 % say fees can make them switch)
# After the 1st reminder and the 2nd (debt collection): 1 in 3 and 42 % look elsewhere, x 0.2.
REMINDER_CHURN_P = (0.07, 0.09)
REMINDER_DAYS = (38, 60)  # days after issue each reminder is sent
REMINDER_P = {"consumer": (0.05, 0.015), "business": (0.04, 0.01), "enterprise": (0.02, 0.005)}
PAPER_P_BY_AGE = np.array([0.08, 0.15, 0.25, 0.45, 0.6])

# -- agents and teams ------------------------------------------------------------------------
TEAMS: tuple[str, ...] = (
    "Customer care",
    "Billing",
    "Tech support",
    "Retention",
    "Business desk",
    "Digital",
)
CUSTOMERS_PER_AGENT = 250


# -- experiments -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentSpec:
    """One sample experiment: its plan and where it sits inside the data window (fractions)."""

    experiment_id: str
    name: str
    hypothesis: str
    primary_metric: str
    guardrails: tuple[dict[str, Any], ...]
    mde: float
    start_frac: float
    end_frac: float
    coverage: float  # share of active customers enrolled
    treatment_p: float  # true probability of treatment (0.5 unless deliberately broken)


# The broken assignment service of the SRM example: 56/44 instead of 50/50, so the mismatch is
# flagged (chi-square p < 0.001) already at the 3000-customer test scale.
BROKEN_TREATMENT_P = 0.44
# Re-randomisation: each experiment's split is drawn this many times and the draw whose units'
# contacts in the BALANCE_PRE_DAYS before the start are most balanced is kept (the readout's
# CUPED pre-period is also 90 days).
RERANDOMISE_DRAWS = 8
BALANCE_PRE_DAYS = 90

EXPERIMENTS: tuple[ExperimentSpec, ...] = (
    ExperimentSpec(
        "callback_vs_queue", "Callback instead of phone queue",
        "Offering a callback instead of a phone queue raises first contact resolution, "
        "because agents call back prepared (9 of 10 sometimes or always prefer a callback).",
        "fcr",
        ({"metric": "csat", "tolerance": 0.02, "direction": "higher"},
         {"metric": "aht", "tolerance": 30.0, "direction": "lower"}),
        0.03, 0.45, 0.80, 0.9, 0.5,
    ),
    ExperimentSpec(
        "chatbot_handoff", "Chatbot triage with human hand-off",
        "A chatbot that triages every contact and hands off to a human with the case "
        "summarised cuts agent handling time by 15 %.",
        "aht",
        ({"metric": "csat", "tolerance": 0.02, "direction": "higher"},
         {"metric": "fcr", "tolerance": 0.03, "direction": "higher"}),
        20.0, 0.20, 0.95, 1.0, 0.5,
    ),
    ExperimentSpec(
        "proactive_outage_sms", "Proactive outage notifications by SMS",
        "Telling customers about outages before they notice cuts inbound contacts "
        "(Gartner 2023: -20-30 %).",
        "contacts_per_customer",
        ({"metric": "csat", "tolerance": 0.02, "direction": "higher"},
         {"metric": "repeat_contact_rate", "tolerance": 0.02, "direction": "lower"}),
        0.05, 0.50, 0.80, 0.8, 0.5,
    ),
    ExperimentSpec(
        "invoice_sms_reminder_broken_split", "SMS reminder before invoice due date",
        "An SMS a few days before the invoice is due avoids reminder fees and so lowers "
        "churn. (Its assignment service was misconfigured: the split is not 50/50.)",
        "churn_rate",
        ({"metric": "csat", "tolerance": 0.02, "direction": "higher"},),
        0.01, 0.55, 0.85, 1.0, BROKEN_TREATMENT_P,
    ),
)  # fmt: skip

# Planted effects, applied to contacts (and their surveys) of treatment customers opened in
# [assigned_at, end_date). Effects are in the metric's own units (shares as fractions).
CALLBACK_FCR_LIFT = 0.08
# A called-back customer does not hold in the queue (no long wait felt, no hang-up) and 9 of 10
# prefer a callback: their CSAT latent gets this bonus. Together with the FCR lift this lifts
# the top-2-box share clearly (see PLANTED_EXPERIMENTS), so the csat guardrail is shown safe.
CALLBACK_CSAT = 0.25
HANDOFF_AHT_FACTOR = 0.85
HANDOFF_CSAT_TOP2_DROP = 0.06

# The truth behind each sample experiment, for readout tests and the demo. "true_effect" is
# treatment - control in the primary metric's units; "se_3000" / "se_20000" are the standard
# errors of a naive difference at the test fixture (3000 customers) and default (20000)
# scales, measured at seed 7. Readouts by experiments.readout at seed 7 and 3000 customers
# reach every expected_decision below (and at 15 of seeds 1-16; each split is re-randomised
# for pre-period balance, see RERANDOMISE_DRAWS).
PLANTED_EXPERIMENTS: dict[str, dict[str, Any]] = {
    "callback_vs_queue": {
        "primary_metric": "fcr",
        "true_effect": CALLBACK_FCR_LIFT,
        "definition": "contact level: P(first_contact_resolved) of every handled (not "
        "abandoned) contact, any channel, of a treatment customer opened in "
        "[assigned_at, end_date) is raised by +0.08 absolute; control FCR about 0.68. "
        "Treatment phone calls are called back: wait_s 0, the queue time is the "
        "first_response_s, none abandoned",
        "guardrails": {
            "csat": {
                "true_effect": 0.05,
                "note": "about +0.05 top-2-box (measured +0.052, se 0.003, at 200k "
                "customers, seed 7): treatment phone calls are called back (no hold: no long "
                "wait felt, no hang-up; CALLBACK_CSAT on the latent) plus the FCR spillover; "
                "the guardrail is shown safe",
            },
            "aht": {"true_effect": 0.0},
        },
        "side_effects": "fewer repeat contacts in treatment (follow-ups come from "
        "contacts not resolved at first contact); fewer long phone waits and abandoned "
        "calls; slightly less churn through the higher CSAT",
        "se_3000": 0.010,
        "se_20000": 0.004,
        "expected_decision": "ship",
        "expected_srm": False,
        "split": (0.5, 0.5),
    },
    "chatbot_handoff": {
        "primary_metric": "aht",
        "true_effect_relative": HANDOFF_AHT_FACTOR - 1.0,
        "true_effect": -67.0,
        "definition": "contact level: handle_s of every agent-handled contact (agent_id not "
        "null: not abandoned, not bot-only) of a treatment customer opened in "
        "[assigned_at, end_date) is multiplied by 0.85; control AHT about 446 s, so the "
        "absolute effect is about -67 s (compare the relative lift -0.15 exactly)",
        "guardrails": {
            "csat": {
                "true_effect": -HANDOFF_CSAT_TOP2_DROP,
                "tolerance": 0.02,
                "note": "survey level: each top-2 answer about such a contact is "
                "downgraded to 2 or 3 with probability 0.06 / P(top-2 | its latent "
                "score), so the top-2-box share drops by 0.06 in expectation; "
                "breached",
            },
            "fcr": {"true_effect": 0.0},
        },
        "side_effects": "slightly more churn in treatment, through the lower CSAT",
        "se_3000": {"aht_relative": 0.010, "csat": 0.015},
        "se_20000": {"aht_relative": 0.004, "csat": 0.006},
        "expected_decision": "stop",
        "expected_srm": False,
        "split": (0.5, 0.5),
    },
    "proactive_outage_sms": {
        "primary_metric": "contacts_per_customer",
        "true_effect": 0.0,
        "definition": "null: treatment changes nothing (contacts per customer in the window, "
        "about 3.5 over 3.6 months, and repeat_contact_rate identical in distribution)",
        "guardrails": {"csat": {"true_effect": 0.0}, "repeat_contact_rate": {"true_effect": 0.0}},
        "se_3000": 0.15,
        "se_20000": 0.061,
        "expected_decision": "keep running or stop for futility",
        "expected_srm": False,
        "split": (0.5, 0.5),
    },
    "invoice_sms_reminder_broken_split": {
        "primary_metric": "churn_rate",
        "true_effect": 0.0,
        "definition": "null effect, but units are assigned to treatment with probability "
        "0.44 on a planned 50/50 split (observed about 56/44 control/treatment; SRM "
        "chi-square p < 1e-8 at 3000 customers)",
        "guardrails": {"csat": {"true_effect": 0.0}},
        "expected_decision": "stop: sample ratio mismatch, results untrustworthy",
        "expected_srm": True,
        "split": (1 - BROKEN_TREATMENT_P, BROKEN_TREATMENT_P),
    },
}
