"""Seeded generator of the sample CX world (SEED_FACTS.md): vectorised numpy, any scale.

Customers are generated in fixed-size chunks, each with its own random stream
(`default_rng([seed, chunk])`), so a seed gives the same world whatever the machine, and a
million customers never hold more than one chunk of contacts in memory. Every row is
built as numpy arrays -> a Polars frame of numbers; DuckDB turns codes into strings and
ids while it inserts (`INSERT INTO t BY NAME SELECT ... FROM frame`).

The world is simulated from BURN_IN_MONTHS before the window (contacts, surveys, invoices,
reminders), so churn, which those drive, is stationary from the first window month; only
the window is kept. Order of causes inside a chunk: customers -> experiment enrolment ->
contact times, channels and issues -> variants (re-randomised for pre-period balance) ->
contact outcomes (queue, handling, resolution, planted treatment effects) -> repeat
contacts -> surveys (at most one per customer per 90 days) -> invoices -> churn inside the
window, the earliest of: a switch decided when an invoice arrives, with a probability from
the customer's latest CSAT answer following the seed's 4/21/35/67/73 % table; a switch
after a reminder (or, rarely, a paper-invoice fee); a baseline hazard, higher in the first
two years -> the burn-in and anything after a customer's churn are dropped. Parameters and
the planted experiment truths are in sample_data/world.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from metrics.repeats import refresh_repeats
from metrics.schema import CHANNELS, ISSUE_TYPES
from metrics.store import Store
from metrics.supplied import SAMPLE_BATCH, record_supplied, supplied_in
from metrics.survey_links import LINKED_COLUMNS, refresh_survey_links
from sample_data import world as W
from sample_data.world import EXPERIMENTS, PLANTED_EXPERIMENTS, ExperimentSpec

__all__ = ["PLANTED_EXPERIMENTS", "SAMPLE_TABLES", "SampleDataError", "generate"]

SAMPLE_TABLES: tuple[str, ...] = (
    "customers", "contacts", "surveys", "invoices", "experiments", "assignments",
)  # fmt: skip
CHUNK_CUSTOMERS = 100_000
MAX_CUSTOMERS = 5_000_000
DAY = 86_400
HOUR = 3_600
_EPOCH = date(1970, 1, 1)


class SampleDataError(ValueError):
    """Bad arguments, or a store that already holds data and may not be overwritten."""


# -- calendar helpers -------------------------------------------------------------------------
def _add_months(d: date, k: int) -> date:
    m = d.year * 12 + (d.month - 1) + k
    return date(m // 12, m % 12 + 1, 1)


def _days(d: date) -> int:
    return (d - _EPOCH).days


def _us(seconds: np.ndarray) -> pl.Series:
    """Seconds since the epoch (NaN = missing) as a naive UTC timestamp series."""
    out = np.full(seconds.shape, np.datetime64("NaT"), dtype="datetime64[us]")
    ok = ~np.isnan(seconds)
    out[ok] = (seconds[ok] * 1e6).astype(np.int64).astype("datetime64[us]")
    return pl.Series(out)


def _f(values: np.ndarray) -> pl.Series:
    return pl.Series(values, nan_to_null=True)


def _lognormal(rng: np.random.Generator, median: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return median * np.exp(sd * rng.standard_normal(np.shape(median)))


def _lookup(table: dict[str, float], vocab: tuple[str, ...], default: float = 0.0) -> np.ndarray:
    return np.array([table.get(v, default) for v in vocab], dtype=np.float64)


def _lookup_pair(table: dict[str, tuple[float, float]], vocab: tuple[str, ...]):
    med = np.array([table.get(v, (np.nan, np.nan))[0] for v in vocab])
    sd = np.array([table.get(v, (np.nan, np.nan))[1] for v in vocab])
    return med, sd


# Per-channel / per-issue parameter vectors, indexed by code.
_WAIT_MED, _WAIT_SD = _lookup_pair(W.WAIT, CHANNELS)
_ASYNC_MED, _ASYNC_SD = _lookup_pair(W.ASYNC_FIRST_RESPONSE, CHANNELS)
_PAT_MED, _PAT_SD = _lookup_pair(W.PATIENCE, CHANNELS)
_HANDLE_MED, _HANDLE_SD = _lookup_pair(W.HANDLE, CHANNELS)
_FCR_CH = _lookup(W.FCR_CHANNEL, CHANNELS)
_FCR_IT = _lookup(W.FCR_ISSUE, ISSUE_TYPES)
_ESC_IT = W.ESCALATION_P + _lookup(W.ESCALATION_ISSUE_ADD, ISSUE_TYPES)
_UNRES_IT = W.UNRESOLVED_P + _lookup(W.UNRESOLVED_ISSUE_ADD, ISSUE_TYPES)
_CSAT_CH = _lookup(W.CSAT_CHANNEL, CHANNELS)
_CSAT_IT = _lookup(W.CSAT_ISSUE, ISSUE_TYPES)
_ABANDON_TRACKED = np.isin(np.array(CHANNELS), W.QUEUE_CHANNELS)
_DIGITAL = np.isin(np.array(CHANNELS), ("chat", "chatbot", "app", "social", "sms"))
_CH_CUM = np.cumsum(W.CHANNEL_P_BY_AGE, axis=1)
_IT_CUM = np.cumsum(W.ISSUE_P / W.ISSUE_P.sum())
_COMMENTS = tuple(c for band in W.COMMENTS_BY_CSAT for c in band)
PHONE, CHAT, CHATBOT = W.CH["phone"], W.CH["chat"], W.CH["chatbot"]
EXP_INDEX = {e.experiment_id: k for k, e in enumerate(EXPERIMENTS)}


@dataclass(frozen=True)
class _Window:
    start: date
    end: date
    months: int
    start_s: float
    end_s: float
    exp_start_s: np.ndarray  # per experiment, seconds
    exp_end_s: np.ndarray
    exp_dates: tuple[tuple[date, date], ...]


@dataclass(frozen=True)
class _Agents:
    offset: np.ndarray  # first agent number of each team
    size: np.ndarray  # agents per team
    csat: np.ndarray  # per agent effect on the CSAT latent
    handle: np.ndarray  # per agent multiplier of handling time


def _window(end: date, months: int) -> _Window:
    start = _add_months(end, -months)
    span = (end - start).days
    dates = []
    for e in EXPERIMENTS:
        s = start + timedelta(days=round(span * e.start_frac))
        t = start + timedelta(days=round(span * e.end_frac))
        dates.append((s, max(t, s + timedelta(days=1))))
    return _Window(
        start=start, end=end, months=months,
        start_s=float(_days(start) * DAY), end_s=float(_days(end) * DAY),
        exp_start_s=np.array([_days(s) * DAY for s, _ in dates], dtype=np.float64),
        exp_end_s=np.array([_days(t) * DAY for _, t in dates], dtype=np.float64),
        exp_dates=tuple(dates),
    )  # fmt: skip


def _agents(total_customers: int, seed: int) -> _Agents:
    rng = np.random.default_rng([seed, 1_000_003])
    n_total = max(24, total_customers // W.CUSTOMERS_PER_AGENT)
    share = np.array([0.25, 0.22, 0.22, 0.05, 0.14, 0.12])  # TEAMS order, by expected load
    size = np.maximum(2, np.round(share * n_total)).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    n = int(size.sum())
    return _Agents(
        offset=offset, size=size,
        csat=rng.normal(0.0, W.CSAT_AGENT_SD, n),
        handle=np.exp(rng.normal(0.0, 0.15, n)),
    )  # fmt: skip


# -- one chunk of customers and everything they do --------------------------------------------
def _chunk(rng: np.random.Generator, n: int, win: _Window, ag: _Agents) -> dict[str, object]:
    start_day, end_day = _days(win.start), _days(win.end)
    span_days = end_day - start_day
    # The world runs from a burn-in start before the window, so the first window month already
    # has the surveys, invoices and reminders behind it that drive churn; only the window is kept.
    sim_start = _add_months(win.start, -W.BURN_IN_MONTHS)
    sim_start_day = _days(sim_start)

    # Customers.
    age = np.searchsorted(np.cumsum(W.AGE_P), rng.random(n), side="right").clip(0, 4)
    seg = np.searchsorted(np.cumsum(W.SEGMENT_P), rng.random(n), side="right").clip(0, 2)
    tier = np.searchsorted(np.cumsum(W.TIER_P), rng.random(n), side="right").clip(0, 2)
    region = np.searchsorted(np.cumsum(W.REGION_P), rng.random(n), side="right").clip(0, 20)
    is_new = rng.random(n) < min(0.5, W.NEW_PER_MONTH * win.months)
    new_day = start_day + rng.integers(0, span_days, n)
    tenure = np.minimum(rng.exponential(W.TENURE_MEAN_YEARS * 365.25, n), W.MAX_TENURE_YEARS * 365)
    signup_day = np.where(is_new, new_day, start_day - 1 - tenure.astype(np.int64))
    from_day = np.maximum(signup_day, start_day)  # first day as a customer in the window
    from_s = from_day.astype(np.float64) * DAY
    sim_from_day = np.maximum(signup_day, sim_start_day)  # first simulated day
    revenue = np.round(
        W.SEGMENT_REVENUE[seg] * W.TIER_REVENUE[tier] * np.exp(rng.normal(0, 0.3, n)), 2
    )
    paper = rng.random(n) < np.where(seg == 0, W.PAPER_P_BY_AGE[age], 0.05)
    disposition = rng.standard_normal(n)
    frailty = rng.gamma(W.FRAILTY_SHAPE, 1.0 / W.FRAILTY_SHAPE, n)
    bill_day = rng.integers(0, 28, n)

    # Experiment enrolment (who and when); the variant is drawn once the contacts are known.
    n_exp = len(EXPERIMENTS)
    variant = np.full((n_exp, n), -1, dtype=np.int8)
    assigned = np.full((n_exp, n), np.inf)
    for k, e in enumerate(EXPERIMENTS):
        at = np.maximum(
            win.exp_start_s[k] + rng.integers(0, 2 * DAY, n),
            from_s + rng.integers(6 * HOUR, 30 * HOUR, n),
        ).astype(np.float64)
        enrolled = (rng.random(n) < e.coverage) & (at < win.exp_end_s[k])
        assigned[k] = np.where(enrolled, at, np.inf)

    # Primary contacts: Poisson count over the simulated span, uniform days, office hours.
    active_days = (end_day - sim_from_day).astype(np.float64)
    lam = (
        W.CONTACT_RATE * W.SEGMENT_CONTACT_MULT[seg] * W.AGE_CONTACT_MULT[age]
        * frailty * active_days / 30.44
    )  # fmt: skip
    cust = np.repeat(np.arange(n), rng.poisson(lam))
    m = cust.size
    day = sim_from_day[cust] + np.floor(rng.random(m) * active_days[cust]).astype(np.int64)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    to_weekday = (weekday >= 5) & (rng.random(m) < 0.6)  # weekends are quieter
    day = np.where(to_weekday, day - (weekday - 4) - rng.integers(0, 5, m), day)
    day = np.maximum(day, sim_from_day[cust])
    tod = np.clip(rng.normal(11.0, 3.0, m), 5.0, 21.5) * HOUR  # UTC, = 07-23 in Sweden
    opened = day * float(DAY) + np.floor(tod)
    ch = _draw_channel(rng, age[cust])
    issue = np.searchsorted(_IT_CUM, rng.random(m), side="right").clip(0, len(ISSUE_TYPES) - 1)
    for k, e in enumerate(EXPERIMENTS):
        enrolled = np.isfinite(assigned[k])
        treat = _rerandomise(rng, e.treatment_p, enrolled, cust, opened, win.exp_start_s[k])
        variant[k] = np.where(enrolled, treat.astype(np.int8), -1)

    ctx = {
        "seg": seg, "disposition": disposition, "variant": variant, "assigned": assigned,
        "phase": rng.uniform(0, W.SURVEY_QUARANTINE_DAYS * DAY, n),
    }  # fmt: skip
    prim = _outcomes(rng, cust, ch, issue, opened, ctx, win, ag)

    # Repeat contacts: unresolved-at-first-contact cases bring the customer back within 7 days.
    not_fcr = prim["fcr"] == 0
    p_back = np.where(np.isnan(prim["resolved_at"]), W.FOLLOW_UP_UNRESOLVED_P, W.FOLLOW_UP_P)
    back = not_fcr & (rng.random(m) < p_back)
    f_opened = opened[back] + rng.uniform(2 * HOUR, 7 * DAY, int(back.sum()))
    keep = f_opened < win.end_s
    f_cust = cust[back][keep]
    f_opened = np.floor(f_opened[keep])
    f_issue = issue[back][keep]
    f_ch = _draw_channel(rng, age[f_cust])
    foll = _outcomes(rng, f_cust, f_ch, f_issue, f_opened, ctx, win, ag)

    c = {k: np.concatenate([prim[k], foll[k]]) for k in prim}
    c["cust"] = np.concatenate([cust, f_cust])
    c["ch"] = np.concatenate([ch, f_ch])
    c["issue"] = np.concatenate([issue, f_issue])
    c["opened"] = np.concatenate([opened, f_opened])
    c["follow"] = np.concatenate([np.zeros(m, bool), np.ones(f_cust.size, bool)])

    # Surveys.
    s = _surveys(rng, c, ctx, win, ag)

    # Invoices.
    inv = _invoices(
        rng, n, sim_start, W.BURN_IN_MONTHS + win.months, end_day, sim_from_day, bill_day, seg,
        age, revenue, paper,
    )  # fmt: skip

    # Churn: the earliest trigger wins; later triggers never happen. Every customer in the table
    # is a customer when the window opens (or signs up inside it), so a trigger before the window
    # start is one the customer did not act on; the baseline hazard is memoryless.
    churn_s = np.full(n, np.inf)
    short_at_from = (from_day - signup_day) <= W.SHORT_TENURE_DAYS
    hazard = W.BASE_HAZARD_MONTH / 30.44 * np.where(short_at_from, W.SHORT_TENURE_HAZARD_MULT, 1.0)
    churn_s = np.minimum(churn_s, from_s + rng.exponential(1.0 / hazard) * DAY)
    # "Think of switching when the invoice arrives", by the latest satisfaction answer.
    inv_cust, inv_s = inv["cust"], inv["issued_day"] * float(DAY)
    answered = np.where(np.isinf(s["answered"]), 0.0, s["answered"])
    key_s = s["cust"].astype(np.int64) * (1 << 40) + answered.astype(np.int64)
    by_key = np.argsort(key_s, kind="stable")
    key_i = inv_cust.astype(np.int64) * (1 << 40) + inv_s.astype(np.int64)
    pos = np.searchsorted(key_s[by_key], key_i, side="right") - 1
    latest = by_key[np.maximum(pos, 0)]
    recent = (
        (pos >= 0)
        & (s["cust"][latest] == inv_cust)
        & (inv_s - answered[latest] <= W.SURVEY_LOOKBACK_DAYS * DAY)
    )
    short_at_invoice = (inv["issued_day"] - signup_day[inv_cust]) <= W.SHORT_TENURE_DAYS
    h_inv = W.SWITCH_HAZARD[s["csat"][latest] - 1] * W.SURVEY_CHURN_SCALE
    h_inv = h_inv * np.where(short_at_invoice, W.SHORT_TENURE_CHURN_MULT, 1.0)
    p_inv = -np.expm1(-h_inv)
    hit = recent & (rng.random(p_inv.size) < p_inv)
    when = inv_s + rng.uniform(0, W.NOTICE_DAYS * DAY, p_inv.size)
    hit &= when >= win.start_s
    np.minimum.at(churn_s, inv_cust[hit], when[hit])
    trig = inv["trigger_s"] >= win.start_s
    np.minimum.at(churn_s, inv["trigger_cust"][trig], inv["trigger_s"][trig])
    churn_s = np.where(churn_s < win.end_s, np.floor(churn_s), np.inf)
    churn_day = np.floor(churn_s / DAY)  # churned_at is a date: nothing happens from that day

    # Keep the window: drop the burn-in and what happens after a customer has left.
    alive = (c["opened"] >= win.start_s) & (c["opened"] < churn_day[c["cust"]] * DAY)
    order = np.argsort(c["opened"][alive], kind="stable")
    idx = np.flatnonzero(alive)[order]
    new_pos = np.full(alive.size, -1, dtype=np.int64)
    new_pos[idx] = np.arange(idx.size)
    c = {k: v[idx] for k, v in c.items()}
    s_keep = new_pos[s["contact"]] >= 0
    s = {k: v[s_keep] for k, v in s.items()}
    s["contact"] = new_pos[s["contact"]]
    s_order = np.argsort(s["answered"], kind="stable")
    s = {k: v[s_order] for k, v in s.items()}
    inv_keep = (inv["issued_day"] >= start_day) & (inv["issued_day"] < churn_day[inv["cust"]])
    inv = {k: v[inv_keep] for k, v in inv.items() if not k.startswith("trigger")}

    customers = {
        "cust": np.arange(n), "signup_day": signup_day, "seg": seg, "tier": tier,
        "region": region, "age": age, "churn_day": np.where(np.isinf(churn_day), np.nan, churn_day),
        "revenue": revenue,
    }  # fmt: skip
    assign = []
    for k in range(n_exp):
        ok = (variant[k] >= 0) & (assigned[k] < churn_day * DAY)
        assign.append((k, np.flatnonzero(ok), variant[k][ok], assigned[k][ok]))
    return {"customers": customers, "contacts": c, "surveys": s, "invoices": inv, "assign": assign}


def _rerandomise(
    rng: np.random.Generator, p: float, enrolled: np.ndarray, cust: np.ndarray,
    opened: np.ndarray, start_s: float,
) -> np.ndarray:  # fmt: skip
    """Treatment flags: the best balanced of a few independent draws (re-randomisation).

    As experimentation platforms' seed finders do, each draw is scored by the difference in
    mean contacts per unit in the BALANCE_PRE_DAYS before the start, and the most balanced
    draw is kept. The score ignores the arm sizes, so the chance of treatment stays p (a
    broken split stays broken); a chance pre-period imbalance, which CUPED only partly
    removes at small scale, is avoided.
    """
    n = enrolled.size
    pre = (opened >= start_s - W.BALANCE_PRE_DAYS * DAY) & (opened < start_s)
    x = np.bincount(cust[pre], minlength=n).astype(np.float64)[enrolled]
    draws = rng.random((W.RERANDOMISE_DRAWS, n)) < p
    best, best_gap = draws[0], np.inf
    for treat in draws:
        t = treat[enrolled]
        if t.all() or not t.any():
            continue
        gap = abs(x[t].mean() - x[~t].mean())
        if gap < best_gap:
            best, best_gap = treat, gap
    return best


def _draw_channel(rng: np.random.Generator, age_of_contact: np.ndarray) -> np.ndarray:
    u = rng.random(age_of_contact.size)
    out = np.empty(age_of_contact.size, dtype=np.int64)
    for a in range(len(W.AGE_BANDS)):  # five groups, not rows
        sel = age_of_contact == a
        out[sel] = np.searchsorted(_CH_CUM[a], u[sel], side="right")
    return out.clip(0, len(CHANNELS) - 1)


def _treated(ctx: dict, k: int, cust: np.ndarray, opened: np.ndarray, win: _Window) -> np.ndarray:
    """Contacts of treatment customers of experiment k opened in [assigned_at, end_date)."""
    return (
        (ctx["variant"][k][cust] == 1)
        & (opened >= ctx["assigned"][k][cust])
        & (opened < win.exp_end_s[k])
    )


def _outcomes(
    rng: np.random.Generator, cust: np.ndarray, ch: np.ndarray, issue: np.ndarray,
    opened: np.ndarray, ctx: dict, win: _Window, ag: _Agents,
) -> dict[str, np.ndarray]:  # fmt: skip
    m = cust.size
    t_callback = _treated(ctx, EXP_INDEX["callback_vs_queue"], cust, opened, win)
    t_handoff = _treated(ctx, EXP_INDEX["chatbot_handoff"], cust, opened, win)

    # Queue, patience and abandonment (only queue channels track abandonment).
    wait = _lognormal(rng, _WAIT_MED[ch], _WAIT_SD[ch])
    patience = _lognormal(rng, _PAT_MED[ch], _PAT_SD[ch])
    # Planted: a treatment phone call is called back instead of queued. The customer does not
    # hold (wait_s 0, nobody hangs up, no long wait felt); the queue time becomes the time to
    # the callback, i.e. the first response.
    callback = t_callback & (ch == PHONE)
    abandoned = ~np.isnan(patience) & (wait > patience) & ~callback
    queued = np.where(abandoned, np.floor(patience), np.round(wait, 1))
    wait = np.where(callback, 0.0, queued)
    greeting = np.where(ch == CHAT, _lognormal(rng, np.full(m, 20.0), np.full(m, 0.5)), 0.0)
    frt = np.where(np.isnan(wait), _lognormal(rng, _ASYNC_MED[ch], _ASYNC_SD[ch]), wait + greeting)
    frt = np.where(callback, queued, frt)
    frt = np.where(abandoned, np.nan, np.round(frt, 1))

    # Who handles it: the bot alone, or an agent of the team for this segment / channel / issue.
    bot_only = (ch == CHATBOT) & (rng.random(m) < W.BOT_ONLY_P)
    by_agent = ~abandoned & ~bot_only
    seg = ctx["seg"][cust]
    team = np.select(
        [seg > 0, _DIGITAL[ch], issue == W.IT["billing"], issue == W.IT["technical"],
         issue == W.IT["cancellation"]],
        [4, 5, 1, 2, 3], default=0,
    )  # fmt: skip
    agent = ag.offset[team] + np.floor(rng.random(m) * ag.size[team]).astype(np.int64)
    agent = np.where(by_agent, agent, -1)
    team = np.where(by_agent, team, -1)
    handle = np.where(
        bot_only,
        _lognormal(rng, np.full(m, W.BOT_SESSION[0]), np.full(m, W.BOT_SESSION[1])),
        _lognormal(rng, _HANDLE_MED[ch], _HANDLE_SD[ch]) * ag.handle[np.maximum(agent, 0)],
    )
    handle = np.where(t_handoff & by_agent, handle * W.HANDOFF_AHT_FACTOR, handle)  # planted
    handle = np.where(abandoned, np.nan, np.round(handle, 1))

    # Escalation: chatbot hand-offs always; agent contacts by issue.
    esc = (ch == CHATBOT) & by_agent | (
        by_agent & (ch != CHATBOT) & (rng.random(m) < _ESC_IT[issue])
    )
    agent_esc = esc & (ch != CHATBOT)

    # First contact resolution, with the planted callback lift.
    p_fcr = np.where(bot_only, W.FCR_BOT_ONLY, _FCR_CH[ch]) + _FCR_IT[issue]
    p_fcr = np.clip(p_fcr + W.FCR_ESCALATED * agent_esc, 0.02, 0.89)
    p_fcr = p_fcr + W.CALLBACK_FCR_LIFT * t_callback  # planted, never clipped
    fcr = ~abandoned & (rng.random(m) < p_fcr)

    # Resolution time.
    contact_end = opened + np.nan_to_num(frt) + np.nan_to_num(handle)
    u = rng.random(m)
    p_unres = _UNRES_IT[issue]
    later = np.where(
        u < p_unres, np.nan,
        np.where(
            u < p_unres + W.LATE_P, opened + rng.uniform(7.5, 35.0, m) * DAY,
            np.where(
                u < p_unres + W.LATE_P + W.SAME_DAY_LATER_P,
                contact_end + rng.uniform(0.5, 4.0, m) * HOUR,
                opened + rng.uniform(1.0, 7.0, m) * DAY,
            ),
        ),
    )  # fmt: skip
    fcr_done = contact_end + np.where(
        rng.random(m) < W.FCR_NEXT_DAYS_P, rng.uniform(1.0, 3.0, m) * DAY, 0.0
    )
    # An FCR case is closed by its contact; paperwork that would end after the data window
    # is closed at the contact instead, so FCR always implies resolved.
    fcr_done = np.where(fcr_done < win.end_s, fcr_done, contact_end)
    resolved_at = np.where(fcr, fcr_done, np.where(abandoned, np.nan, later))
    resolved_at = np.where(resolved_at < win.end_s, np.floor(resolved_at), np.nan)
    fcr_flag = np.where(abandoned | (fcr & np.isnan(resolved_at)), -1, fcr.astype(np.int8))

    return {
        "wait": wait, "frt": frt, "handle": handle,
        "abandoned": np.where(_ABANDON_TRACKED[ch], abandoned.astype(np.int8), -1),
        "bot": bot_only,
        "esc": np.where(abandoned, -1, esc.astype(np.int8)),
        "fcr": fcr_flag,
        "resolved_at": resolved_at, "agent": agent, "team": team,
        "contact_end": contact_end, "t_handoff": t_handoff, "callback": callback,
        "late": ~np.isnan(resolved_at) & (resolved_at - opened > 7 * DAY),
    }  # fmt: skip


def _surveys(
    rng: np.random.Generator, c: dict, ctx: dict, win: _Window, ag: _Agents
) -> dict[str, np.ndarray]:
    m = c["cust"].size
    cand = np.flatnonzero((c["abandoned"] != 1) & (rng.random(m) < W.SURVEY_P))
    end, res_at = c["contact_end"][cand], c["resolved_at"][cand]
    # Sent when the case closes (at once for FCR), at the latest 3 days after the contact.
    sent = np.where(c["fcr"][cand] == 1, end, np.fmin(res_at, end + 3 * DAY))
    answered = np.floor(sent + 3.0 * HOUR * np.exp(rng.standard_normal(cand.size)))
    inside = answered < win.end_s
    cand, answered = cand[inside], answered[inside]
    # Survey fatigue rule of most programmes: at most one answer per customer per quarantine
    # period (buckets with a per-customer phase). It also keeps one customer's answers from
    # blurring each other's 90-day churn windows.
    cust_p = c["cust"][cand]
    phase = ctx["phase"][cust_p]
    bucket = np.floor((answered - phase) / (W.SURVEY_QUARANTINE_DAYS * DAY)).astype(np.int64)
    order = np.lexsort((answered, bucket, cust_p))
    cb, bb = cust_p[order], bucket[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (cb[1:] != cb[:-1]) | (bb[1:] != bb[:-1])
    keep = np.sort(order[first])
    pick, answered = cand[keep], answered[keep]
    resolved = ~np.isnan(c["resolved_at"][pick])
    k = pick.size
    ch, issue, cust = c["ch"][pick], c["issue"][pick], c["cust"][pick]
    agent = c["agent"][pick]
    eta = (
        W.CSAT_BASE + _CSAT_CH[ch] + _CSAT_IT[issue]
        + W.CSAT_FCR * (c["fcr"][pick] == 1)
        + W.CSAT_UNRESOLVED * ~resolved
        + W.CSAT_LATE * c["late"][pick]
        + W.CSAT_ESCALATED * (c["esc"][pick] == 1)
        + W.CSAT_LONG_WAIT * ((ch == PHONE) & (c["wait"][pick] > 600))
        + W.CALLBACK_CSAT * c["callback"][pick]  # planted
        + W.CSAT_DISPOSITION * ctx["disposition"][cust]
        + np.where(agent >= 0, ag.csat[np.maximum(agent, 0)], 0.0)
    )  # fmt: skip
    latent = eta + rng.logistic(0.0, 1.0, k)
    csat = 1 + (latent[:, None] > W.CSAT_CUTS[None, :]).sum(axis=1)
    # Planted: chatbot hand-off lowers the top-2-box share by exactly 0.06 in expectation.
    p_top2 = 1.0 / (1.0 + np.exp(W.CSAT_CUTS[2] - eta))
    q = np.minimum(1.0, W.HANDOFF_CSAT_TOP2_DROP / p_top2)
    down = c["t_handoff"][pick] & (csat >= 4) & (rng.random(k) < q)
    csat = np.where(down, rng.integers(2, 4, k), csat)
    nps = np.clip(np.rint(W.NPS_BY_CSAT[csat - 1] + W.NPS_SD * rng.standard_normal(k)), 0, 10)
    ces = (
        W.CES_BY_CSAT[csat - 1] + W.CES_ESCALATED * (c["esc"][pick] == 1)
        + W.CES_FOLLOW_UP * c["follow"][pick] + W.CES_SD * rng.standard_normal(k)
    )  # fmt: skip
    ces = np.clip(np.rint(ces), 1, 7)
    nps = np.where(rng.random(k) < W.NPS_MISSING_P, -1, nps).astype(np.int16)
    ces = np.where(rng.random(k) < W.CES_MISSING_P, -1, ces).astype(np.int16)
    comment = np.where(
        rng.random(k) < W.COMMENT_P, (csat - 1) * 3 + rng.integers(0, 3, k), -1
    ).astype(np.int16)
    return {
        "contact": pick, "cust": cust, "answered": answered,
        "csat": csat.astype(np.int16), "nps": nps, "ces": ces, "comment": comment,
    }  # fmt: skip


def _invoices(
    rng: np.random.Generator, n: int, first_month: date, months: int, end_day: int,
    from_day: np.ndarray, bill_day: np.ndarray, seg: np.ndarray, age: np.ndarray,
    revenue: np.ndarray, paper: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Monthly invoices from `first_month` for `months` months (end_day exclusive)."""
    month_start = np.array([_days(_add_months(first_month, k)) for k in range(months)])
    first = np.searchsorted(month_start, from_day - bill_day, side="left")
    count = np.maximum(months - first, 0)
    cust = np.repeat(np.arange(n), count)
    j = np.arange(cust.size) - np.repeat(np.cumsum(count) - count, count)
    issued = month_start[first[cust] + j] + bill_day[cust]
    k = cust.size
    amount = np.round(revenue[cust] * np.exp(rng.normal(0.0, 0.08, k)), 2)
    p1 = np.array([W.REMINDER_P[s][0] for s in W.SEGMENTS])[seg[cust]]
    p2 = np.array([W.REMINDER_P[s][1] for s in W.SEGMENTS])[seg[cust]]
    young = np.where(age[cust] == 0, 1.6, 1.0)
    u = rng.random(k)
    planned = np.where(u < p2 * young, 2, np.where(u < (p1 + p2) * young, 1, 0))
    r1 = issued + W.REMINDER_DAYS[0]
    r2 = issued + W.REMINDER_DAYS[1]
    reminders = (planned >= 1) & (r1 < end_day)
    reminders2 = (planned >= 2) & (r2 < end_day)
    n_rem = reminders.astype(np.int32) + reminders2
    has_paper = paper[cust]
    fee = has_paper * W.PAPER_FEE + W.REMINDER_FEE * n_rem
    paid = np.select(
        [planned == 0, planned == 1],
        [issued + np.clip(np.rint(rng.normal(24, 4, k)), 3, 30), issued + rng.integers(40, 59, k)],
        default=np.where(rng.random(k) < 0.7, issued + rng.integers(62, 96, k), -1),
    )  # fmt: skip
    paid = np.where((paid < 0) | (paid >= end_day), np.nan, paid)

    # Churn triggers from the invoice: the fee itself, then each reminder.
    t_fee = has_paper & (rng.random(k) < W.FEE_CHURN_P)
    t_r1 = reminders & (rng.random(k) < W.REMINDER_CHURN_P[0])
    t_r2 = reminders2 & (rng.random(k) < W.REMINDER_CHURN_P[1])
    trig_cust = np.concatenate([cust[t_fee], cust[t_r1], cust[t_r2]])
    trig_s = np.concatenate([
        (issued[t_fee] + rng.uniform(10, 60, int(t_fee.sum()))) * DAY,
        (r1[t_r1] + rng.uniform(0, 45, int(t_r1.sum()))) * DAY,
        (r2[t_r2] + rng.uniform(0, 45, int(t_r2.sum()))) * DAY,
    ])  # fmt: skip
    return {
        "cust": cust, "issued_day": issued, "amount": amount, "fee": fee.astype(np.float64),
        "paid_day": paid, "reminders": n_rem.astype(np.int32),
        "trigger_cust": trig_cust, "trigger_s": trig_s.astype(np.float64),
    }  # fmt: skip


# -- writing ----------------------------------------------------------------------------------
def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


_ID = "'{p}' || lpad(CAST({c} AS VARCHAR), {w}, '0')"
_INSERT = {
    "customers": f"""
        INSERT INTO customers BY NAME SELECT
            {_ID.format(p="C", c="cust", w=8)} AS customer_id,
            signup_date, {_sql_list(W.SEGMENTS)}[seg + 1] AS segment,
            {_sql_list(W.TIERS)}[tier + 1] AS tier, {_sql_list(W.REGIONS)}[region + 1] AS region,
            {_sql_list(W.AGE_BANDS)}[age + 1] AS age_band, churned_at,
            revenue AS monthly_revenue
        FROM g_frame""",
    "contacts": f"""
        INSERT INTO contacts BY NAME SELECT
            {_ID.format(p="K", c="seq", w=10)} AS contact_id,
            {_ID.format(p="C", c="cust", w=8)} AS customer_id,
            {_sql_list(CHANNELS)}[ch + 1] AS channel,
            {_sql_list(ISSUE_TYPES)}[issue + 1] AS issue_type,
            opened_at, wait AS wait_s, frt AS first_response_s, handle AS handle_s,
            CASE WHEN abandoned < 0 THEN NULL ELSE abandoned = 1 END AS abandoned,
            bot AS bot_handled,
            CASE WHEN esc < 0 THEN NULL ELSE esc = 1 END AS escalated,
            resolved_at IS NOT NULL AS resolved, resolved_at,
            CASE WHEN fcr < 0 THEN NULL ELSE fcr = 1 END AS first_contact_resolved,
            CASE WHEN agent < 0 THEN NULL ELSE {_ID.format(p="A", c="agent", w=5)} END
                AS agent_id,
            CASE WHEN team < 0 THEN NULL ELSE {_sql_list(W.TEAMS)}[team + 1] END AS team
        FROM g_frame""",
    "surveys": f"""
        INSERT INTO surveys BY NAME SELECT
            {_ID.format(p="R", c="seq", w=10)} AS response_id,
            {_ID.format(p="C", c="cust", w=8)} AS customer_id,
            {_ID.format(p="K", c="contact", w=10)} AS contact_id,
            answered_at,
            CASE WHEN nps < 0 THEN NULL ELSE nps END AS nps, csat,
            CASE WHEN ces < 0 THEN NULL ELSE ces END AS ces,
            CASE WHEN comment < 0 THEN NULL ELSE {_sql_list(_COMMENTS)}[comment + 1] END
                AS comment
        FROM g_frame""",
    "invoices": f"""
        INSERT INTO invoices BY NAME SELECT
            {_ID.format(p="I", c="seq", w=10)} AS invoice_id,
            {_ID.format(p="C", c="cust", w=8)} AS customer_id,
            issued_at, amount, fee, paid_at, reminders
        FROM g_frame""",
    "assignments": f"""
        INSERT INTO assignments BY NAME SELECT
            experiment_id, {_ID.format(p="C", c="cust", w=8)} AS unit_id, variant, assigned_at
        FROM g_frame""",
}


def _day_series(days: np.ndarray) -> pl.Series:
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnan(days.astype(np.float64))
    out[ok] = days[ok].astype(np.int64).astype("datetime64[D]")
    return pl.Series(out)


def _insert(cur, table: str, frame: pl.DataFrame) -> int:
    if frame.height == 0:
        return 0
    cur.register("g_frame", frame)
    try:
        cur.execute(_INSERT[table])
    finally:
        cur.unregister("g_frame")
    return frame.height


def _write_chunk(cur, out: dict, base: int, seq: dict[str, int]) -> dict[str, int]:
    cu, c, s, inv = out["customers"], out["contacts"], out["surveys"], out["invoices"]
    counts: dict[str, int] = {}
    counts["customers"] = _insert(cur, "customers", pl.DataFrame({
        "cust": cu["cust"] + base, "signup_date": _day_series(cu["signup_day"]),
        "seg": cu["seg"].astype(np.int8), "tier": cu["tier"].astype(np.int8),
        "region": cu["region"].astype(np.int8), "age": cu["age"].astype(np.int8),
        "churned_at": _day_series(cu["churn_day"]), "revenue": cu["revenue"],
    }))  # fmt: skip
    n_c = c["cust"].size
    counts["contacts"] = _insert(cur, "contacts", pl.DataFrame({
        "seq": np.arange(n_c, dtype=np.int64) + seq["contacts"], "cust": c["cust"] + base,
        "ch": c["ch"].astype(np.int8), "issue": c["issue"].astype(np.int8),
        "opened_at": _us(c["opened"]), "wait": _f(c["wait"]), "frt": _f(c["frt"]),
        "handle": _f(c["handle"]), "abandoned": c["abandoned"].astype(np.int8), "bot": c["bot"],
        "esc": c["esc"].astype(np.int8), "resolved_at": _us(c["resolved_at"]),
        "fcr": c["fcr"].astype(np.int8), "agent": c["agent"].astype(np.int32),
        "team": c["team"].astype(np.int8),
    }))  # fmt: skip
    counts["surveys"] = _insert(cur, "surveys", pl.DataFrame({
        "seq": np.arange(s["cust"].size, dtype=np.int64) + seq["surveys"],
        "cust": s["cust"] + base, "contact": s["contact"] + seq["contacts"],
        "answered_at": _us(s["answered"].astype(np.float64)), "nps": s["nps"],
        "csat": s["csat"], "ces": s["ces"], "comment": s["comment"],
    }))  # fmt: skip
    counts["invoices"] = _insert(cur, "invoices", pl.DataFrame({
        "seq": np.arange(inv["cust"].size, dtype=np.int64) + seq["invoices"],
        "cust": inv["cust"] + base, "issued_at": _day_series(inv["issued_day"]),
        "amount": inv["amount"], "fee": inv["fee"], "paid_at": _day_series(inv["paid_day"]),
        "reminders": inv["reminders"],
    }))  # fmt: skip
    n_assign = 0
    for k, units, var, at in out["assign"]:
        n_assign += _insert(cur, "assignments", pl.DataFrame({
            "experiment_id": [EXPERIMENTS[k].experiment_id] * units.size,
            "cust": units + base,
            "variant": np.where(var == 1, "treatment", "control"),
            "assigned_at": _us(at),
        }))  # fmt: skip
    counts["assignments"] = n_assign
    return counts


def _experiment_rows(win: _Window, customers: int) -> pl.DataFrame:
    rows = []
    for e, (s, t) in zip(EXPERIMENTS, win.exp_dates, strict=True):
        rows.append(_experiment_row(e, s, t, customers))
    return pl.DataFrame(rows)


def _experiment_row(e: ExperimentSpec, s: date, t: date, customers: int) -> dict[str, object]:
    plan = {"source": "sample_data", "pre_period_days": 90, "coverage": e.coverage}
    return {
        "experiment_id": e.experiment_id, "name": e.name, "hypothesis": e.hypothesis,
        "unit": "customer", "primary_metric": e.primary_metric,
        "guardrails": json.dumps(list(e.guardrails)),
        "variants": json.dumps(["control", "treatment"]), "split": json.dumps([0.5, 0.5]),
        "mde": e.mde, "planned_n": int(round(customers * e.coverage * 0.85, -1)),
        "start_date": s, "end_date": t, "status": "running", "plan": json.dumps(plan),
        "created_at": datetime.combine(s - timedelta(days=7), datetime.min.time()),
        "updated_at": datetime.combine(s, datetime.min.time()),
    }  # fmt: skip


def _record_supplied(cur, replace: bool) -> None:
    """The columns the sample world supplied, as ingest records a batch's (absent is not zero:
    a KPI whose inputs nothing supplied shows "no data"). With `replace` the tables were
    emptied, so what earlier batches supplied no longer holds."""
    from metrics.schema import INGEST_TABLES

    if replace:
        cur.execute(
            "DELETE FROM supplied_columns WHERE table_name IN ("
            + ", ".join(f"'{t}'" for t in INGEST_TABLES)
            + ")"
        )
    for table in INGEST_TABLES:
        columns = [
            r[0]
            for r in cur.execute(f"DESCRIBE {table}").fetchall()
            if r[0] not in ("extras", "batch_id", "next_gap_s", "prev_gap_s", *LINKED_COLUMNS)
        ]
        record_supplied(cur, SAMPLE_BATCH, table, supplied_in(cur, table, columns))


def store_has_data(store: Store) -> dict[str, int]:
    """Row counts of the sample tables that are not empty (an empty dict: safe to write)."""
    cur = store.cursor()
    counts = {
        t: int(cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in SAMPLE_TABLES
    }
    return {t: n for t, n in counts.items() if n}


def generate(
    store: Store,
    *,
    customers: int = 20_000,
    months: int = 12,
    seed: int = 42,
    end: date | None = None,
    replace: bool = False,
) -> dict[str, int]:
    """Write a seeded sample world into `store` in one transaction; return rows per table.

    `end` is the exclusive end of the data (default: the first day of the current month);
    the data covers the `months` months before it. With `replace`, the six sample tables
    are emptied first (in the same transaction); otherwise a store that already holds
    data is refused with SampleDataError.
    """
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise SampleDataError(f"customers must be between 1 and {MAX_CUSTOMERS:,}, got {customers}")
    if not 1 <= months <= 120:
        raise SampleDataError(f"months must be between 1 and 120, got {months}")
    if end is None:
        end = date.today().replace(day=1)
    win = _window(end, months)
    ag = _agents(customers, seed)
    existing = store_has_data(store)
    if existing and not replace:
        listed = ", ".join(f"{t} ({n:,} rows)" for t, n in existing.items())
        raise SampleDataError(
            f"the store {store.path} already holds data: {listed}; "
            "pass --replace (replace=True) to empty the sample tables and write anew"
        )
    totals = dict.fromkeys(SAMPLE_TABLES, 0)
    seq = {"contacts": 0, "surveys": 0, "invoices": 0}
    with store.write() as cur:
        if replace:
            for t in SAMPLE_TABLES:
                cur.execute(f"DELETE FROM {t}")
        cur.register("g_frame", _experiment_rows(win, customers))
        cur.execute("INSERT INTO experiments BY NAME SELECT * FROM g_frame")
        cur.unregister("g_frame")
        totals["experiments"] = len(EXPERIMENTS)
        for index, base in enumerate(range(0, customers, CHUNK_CUSTOMERS)):
            n = min(CHUNK_CUSTOMERS, customers - base)
            out = _chunk(np.random.default_rng([seed, index]), n, win, ag)
            counts = _write_chunk(cur, out, base, seq)
            for t, v in counts.items():
                totals[t] += v
            for t in seq:
                seq[t] += counts[t]
        refresh_repeats(cur)  # the FCR repeat gaps, once for the whole world
        refresh_survey_links(cur)  # each survey's contact and customer values, likewise
        _record_supplied(cur, replace)
    return totals
