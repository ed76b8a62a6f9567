"""BG/NBD and Gamma-Gamma: the published CDNOW estimates, closed forms vs simulation and
quadrature, the RFM summary computed in DuckDB, and the cached background fit."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

from metrics.clv_models import ClvModelError
from metrics.clv_models.cache import cached_clv, start_clv_fit
from metrics.clv_models.closed_forms import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_conditional_expected,
    bgnbd_expected_transactions,
    bgnbd_loglik,
    bgnbd_p_alive,
    gg_conditional_spend,
    gg_loglik,
    simulate_bgnbd,
)
from metrics.clv_models.fit import ClvFit, fit_clv
from metrics.clv_models.map_fit import fit_bgnbd_map, fit_gamma_gamma_map
from metrics.clv_models.rfm import rfm_summary

CDNOW = Path(__file__).parent / "data" / "cdnow"
# Fader, Hardie & Lee (2005), section 5; Fader & Hardie (2013).
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
CDNOW_PARAMS = BgNbdParams(**PUBLISHED_BGNBD)


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return pl.read_csv(CDNOW / "cdnow_summary.csv")


def _arrays(df: pl.DataFrame, *cols: str) -> list[np.ndarray]:
    return [df[c].to_numpy().astype(float) for c in cols]


# ------------------------------------------------------------------ published estimates
def test_bgnbd_mle_cdnow_recovers_published_parameters_within_2pct(cdnow):
    x, t_x, T = _arrays(cdnow, "x", "t_x", "T")
    fit = fit_bgnbd_map(x, t_x, T, prior_sd=None)
    for name, published in PUBLISHED_BGNBD.items():
        assert fit.estimate[name] == pytest.approx(published, rel=0.02), name
    # The paper's maximised log-likelihood is -9582.4.
    assert fit.loglik == pytest.approx(-9582.4, abs=0.5)


def test_gamma_gamma_mle_cdnow_recovers_published_parameters_within_2pct(cdnow):
    x, zbar = _arrays(cdnow, "x", "zbar")
    fit = fit_gamma_gamma_map(x, zbar, prior_sd=None)
    assert int((x > 0).sum()) == 946  # the note fits the 946 repeat buyers
    for name, published in PUBLISHED_GG.items():
        assert fit.estimate[name] == pytest.approx(published, rel=0.02), name


def test_bgnbd_map_weak_prior_cdnow_stays_within_2pct(cdnow):
    # The default weak prior (Normal(0, 3) on log-parameters) must not move the estimates.
    x, t_x, T = _arrays(cdnow, "x", "t_x", "T")
    fit = fit_bgnbd_map(x, t_x, T, prior_sd=3.0)
    for name, published in PUBLISHED_BGNBD.items():
        assert fit.estimate[name] == pytest.approx(published, rel=0.02), name


def test_rfm_summary_cdnow_transactions_reproduces_published_summary(store, cdnow):
    # Load the raw CDNOW transactions as invoices; the DuckDB summary must equal the
    # published calibration-period summary (39 weeks to 1997-09-30) customer by customer.
    rows = []
    for k, line in enumerate((CDNOW / "CDNOW_sample.txt").read_text().splitlines()):
        _master, cid, day, _cds, amount = line.split()
        d = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        rows.append((f"t{k}", str(int(cid)), d, float(amount)))
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) VALUES (?,?,?,?)",
            rows,
        )
    rfm = rfm_summary(store, unit="week", as_of=date(1997, 9, 30))
    got = rfm.with_columns(pl.col("customer_id").cast(pl.Int64)).sort("customer_id")
    want = cdnow.sort("ID")
    assert got.height == 2357
    assert got["customer_id"].to_list() == want["ID"].to_list()
    assert got["frequency"].to_list() == want["x"].cast(pl.Float64).to_list()
    np.testing.assert_allclose(got["recency"], want["t_x"], atol=0.006)
    np.testing.assert_allclose(got["T"], want["T"], atol=0.006)
    np.testing.assert_allclose(got["monetary"], want["zbar"], atol=0.006)
    assert set(got["segment"]) == {"unknown"}  # no customers table: one bucket


# ------------------------------------------------------------------ closed forms
def test_bgnbd_expected_transactions_matches_seeded_simulation():
    # [FHL05] eq. (9) against the generative process, 400k customers, fixed seed.
    rng = np.random.default_rng(20260101)
    n = 400_000
    for t in (10.0, 39.0, 78.0):
        x, _ = simulate_bgnbd(CDNOW_PARAMS, np.full(n, t), rng)
        se = x.std() / np.sqrt(n)
        assert bgnbd_expected_transactions(CDNOW_PARAMS, t) == pytest.approx(x.mean(), abs=4 * se)


def _gamma_moment(P: BgNbdParams, x: int, s: float) -> float:
    """E[λ^x e^{-λ s}] for λ ~ Gamma(r, rate α): the elementary Gamma integral."""
    return float(
        np.exp(
            gammaln(P.r + x)
            - gammaln(P.r)
            + P.r * np.log(P.alpha)
            - (P.r + x) * np.log(P.alpha + s)
        )
    )


def _beta_integral(f, P: BgNbdParams) -> float:
    # Integrate f(p) · Beta(p; a, b) over (0, 1); split at 0.5 for the endpoint behaviour.
    return sum(
        integrate.quad(
            lambda p: f(p) * stats.beta.pdf(p, P.a, P.b),
            lo,
            hi,
            epsabs=1e-14,
            epsrel=1e-11,
            limit=200,
        )[0]
        for lo, hi in ((0.0, 0.5), (0.5, 1.0))
    )


def _likelihood_by_quadrature(P: BgNbdParams, x: int, t_x: float, T: float) -> float:
    """Eq. (3) of [FHL05] mixed over λ (closed Gamma integral) and p (numerical quadrature).

    Independent of eq. (6): no Beta functions, the mixing over p is done numerically.
    """

    def given_p(p):
        val = (1 - p) ** x * _gamma_moment(P, x, T)
        if x > 0:
            val += p * (1 - p) ** (x - 1) * _gamma_moment(P, x, t_x)
        return val

    return _beta_integral(given_p, P)


def test_bgnbd_loglik_matches_quadrature_of_individual_likelihood():
    P = BgNbdParams(0.9, 3.0, 1.4, 2.2)
    for x, t_x, T in ((0, 0.0, 20.0), (3, 12.5, 20.0), (12, 19.0, 20.0)):
        got = bgnbd_loglik(P.r, P.alpha, P.a, P.b, np.array([x]), np.array([t_x]), np.array([T]))[0]
        assert got == pytest.approx(np.log(_likelihood_by_quadrature(P, x, t_x, T)), abs=1e-8)


def _posterior_expectation(P: BgNbdParams, t: float, x: int, t_x: float, T: float) -> float:
    """E[Y(t) | x, t_x, T] by quadrature over p: independent of eq. (10)'s 2F1.

    Given λ, p and the history, the customer is alive at T with weight (1-p)^x λ^x e^{-λT}
    and, if alive, buys (1 - e^{-λ p t}) / p in (T, T+t]; λ is integrated in closed form.
    """

    def numerator(p):
        alive = (1 - p) ** x
        return alive * (_gamma_moment(P, x, T) - _gamma_moment(P, x, T + p * t)) / p

    return _beta_integral(numerator, P) / _likelihood_by_quadrature(P, x, t_x, T)


@pytest.mark.parametrize("x,t_x,T", [(2, 30.43, 38.86), (0, 0.0, 38.86), (7, 35.0, 38.86)])
def test_bgnbd_conditional_expected_matches_posterior_quadrature(x, t_x, T):
    # [FHL05] eq. (10) against direct integration over the posterior of (λ, p).
    for P in (BgNbdParams(0.5, 4.0, 1.6, 2.5), CDNOW_PARAMS):
        want = _posterior_expectation(P, 39.0, x, t_x, T)
        got = float(bgnbd_conditional_expected(P, 39.0, x, t_x, T))
        assert got == pytest.approx(want, rel=1e-6)


def test_bgnbd_conditional_expected_cdnow_customer_matches_paper():
    # FHL05 section 5: a customer with x = 2, t_x = 30.43, T = 38.86 (ID 1 of the sample)
    # is expected to make 1.226 purchases in the next 39 weeks.
    assert float(bgnbd_conditional_expected(CDNOW_PARAMS, 39, 2, 30.43, 38.86)) == (
        pytest.approx(1.226, abs=0.001)
    )


def test_bgnbd_p_alive_no_repeat_purchase_is_one():
    # With x = 0 the BG/NBD customer cannot have dropped out (dropout follows a purchase).
    assert bgnbd_p_alive(CDNOW_PARAMS, 0, 0.0, 38.86) == pytest.approx(1.0)
    # Hand computation: 1 / (1 + a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)).
    r, al, a, b = 0.243, 4.414, 0.793, 2.426
    want = 1 / (1 + a / (b + 1) * ((al + 38.86) / (al + 5.0)) ** (r + 2))
    assert float(bgnbd_p_alive(CDNOW_PARAMS, 2, 5.0, 38.86)) == pytest.approx(want, rel=1e-12)


def test_gg_conditional_spend_matches_posterior_mean_of_p_over_nu():
    # [FH13] eq. (5): ν | data ~ Gamma(px + q, rate γ + x·zbar) and E[M | ν] = p/ν.
    G = GammaGammaParams(6.25, 3.74, 15.44)
    x, zbar = 4, 37.5
    post = stats.gamma(a=G.p * x + G.q, scale=1 / (G.gamma + x * zbar))
    want, _ = integrate.quad(lambda v: G.p / v * post.pdf(v), 0, np.inf)
    assert float(gg_conditional_spend(G, x, zbar)) == pytest.approx(want, rel=1e-8)
    # x = 0: the population mean pγ/(q-1).
    assert float(gg_conditional_spend(G, 0, 0.0)) == pytest.approx(6.25 * 15.44 / 2.74)


def test_gg_loglik_integrates_to_one_over_zbar():
    G = GammaGammaParams(2.0, 3.0, 10.0)
    total, _ = integrate.quad(
        lambda z: np.exp(gg_loglik(G.p, G.q, G.gamma, np.array([3.0]), np.array([z]))[0]),
        0,
        np.inf,
    )
    assert total == pytest.approx(1.0, abs=1e-8)


def test_bgnbd_map_synthetic_recovers_simulated_parameters():
    rng = np.random.default_rng(11)
    truth = BgNbdParams(0.6, 8.0, 0.9, 3.5)
    T = rng.uniform(20, 60, 20_000)
    x, t_x = simulate_bgnbd(truth, T, rng)
    fit = fit_bgnbd_map(x, t_x, T)
    # 20k customers: standard errors are a few per cent; 15 % bounds them with margin.
    for name in ("r", "alpha", "a", "b"):
        assert fit.estimate[name] == pytest.approx(getattr(truth, name), rel=0.15), name


def test_fit_bgnbd_inconsistent_recency_names_the_row():
    x = np.array([1.0] * 12)
    t_x = np.array([5.0] * 11 + [50.0])
    T = np.array([10.0] * 12)
    with pytest.raises(ClvModelError, match=r"first at row 11: frequency=1.0, recency=50.0"):
        fit_bgnbd_map(x, t_x, T)


# ------------------------------------------------------------------ fit_clv on a store
def _seed_invoices(store, n: int = 600, seed: int = 5) -> None:
    """Invoices from the BG/NBD process in days, spend Gamma with per-customer scale."""
    rng = np.random.default_rng(seed)
    truth = BgNbdParams(1.2, 60.0, 0.7, 3.0)
    start = date(2025, 1, 1)
    customers, invoices = [], []
    for i in range(n):
        seg = ("consumer", "business")[i % 2]
        first = int(rng.integers(0, 200))
        customers.append((f"c{i}", start + timedelta(days=first), seg))
        lam, p = rng.gamma(truth.r, 1 / truth.alpha), rng.beta(truth.a, truth.b)
        scale = 1 / rng.gamma(4.0, 1 / 60.0)  # ν ~ Gamma(q=4, γ=60): heterogeneous spend
        t, k = float(first), 0
        invoices.append(
            (f"i{i}_0", f"c{i}", start + timedelta(days=first), float(rng.gamma(3.0, scale)))
        )
        while True:
            t += rng.exponential(1 / lam)
            if t >= 364:
                break
            k += 1
            invoices.append(
                (f"i{i}_{k}", f"c{i}", start + timedelta(days=int(t)), float(rng.gamma(3.0, scale)))
            )
            if rng.random() < p:
                break
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO customers (customer_id, signup_date, segment) VALUES (?, ?, ?)",
            customers,
        )
        cur.executemany(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) VALUES (?, ?, ?, ?)",
            invoices,
        )


def test_fit_clv_map_segment_means_equal_mean_of_customer_values(store):
    _seed_invoices(store)
    fit = fit_clv(store, method="map", draws=100, seed=1)
    cust = fit.customers
    assert fit.n_customers == cust.height == 600
    for row in fit.segments:
        seg = cust.filter(pl.col("segment") == row["segment"])
        assert row["n"] == seg.height
        # Per-draw segment means averaged = mean of per-customer posterior means.
        assert row["value_mean"] == pytest.approx(seg["expected_value"].mean(), rel=1e-9)
        assert row["ci_low"] < row["value_mean"] < row["ci_high"]
    # The point prediction is the closed forms at the MAP estimates, customer by customer.
    bg = BgNbdParams(*(fit.bgnbd[k]["estimate"] for k in ("r", "alpha", "a", "b")))
    gg = GammaGammaParams(*(fit.gamma_gamma[k]["estimate"] for k in ("p", "q", "gamma")))
    horizon = 12 * (365.25 / 12) / 7  # 12 months in weeks
    f, rec, T, m = (cust[c].to_numpy() for c in ("frequency", "recency", "T", "monetary"))
    plug_in = bgnbd_conditional_expected(bg, horizon, f, rec, T) * gg_conditional_spend(
        gg, np.where(m > 0, f, 0.0), m
    )
    np.testing.assert_allclose(cust["value_at_estimate"], plug_in, rtol=1e-10)
    # The posterior mean differs from the plug-in only by parameter uncertainty (Jensen);
    # with 600 customers that is a few per cent on average, well under 15 %.
    assert cust["expected_value"].mean() == pytest.approx(plug_in.mean(), rel=0.15)
    inside = (cust["ci_low"] <= cust["expected_value"]) & (
        cust["expected_value"] <= cust["ci_high"]
    )
    assert inside.all()


def test_fit_clv_empty_store_raises_readable_error(store):
    with pytest.raises(ClvModelError, match="invoices table has 0 customers"):
        fit_clv(store)


def test_start_clv_fit_caches_result_without_bumping_data_version(store):
    _seed_invoices(store, n=300)
    version = store.data_version()
    status = start_clv_fit(store, method="map", wait=True)
    assert status.status == "done" and status.current
    assert store.data_version() == version  # bookkeeping writes leave caches valid
    fit, status2 = cached_clv(store, "map")
    assert isinstance(fit, ClvFit) and fit.n_customers == 300
    # A second start on unchanged data reuses the cached result (same timestamp).
    again = start_clv_fit(store, method="map", wait=True)
    assert again.updated_at == status2.updated_at
    # New data makes the cached fit stale.
    with store.write() as cur:
        cur.execute(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) "
            "VALUES ('new', 'c0', DATE '2025-12-30', 10.0)"
        )
    _, stale = cached_clv(store, "map")
    assert stale.status == "done" and not stale.current


@pytest.mark.parametrize("which", ["bgnbd", "gg"])
def test_loglik_gradients_match_central_differences(which):
    from metrics.clv_models.closed_forms import bgnbd_loglik_grad, gg_loglik_grad

    rng = np.random.default_rng(9)
    if which == "bgnbd":
        theta = np.array([0.7, 5.0, 0.9, 2.2])
        T = rng.uniform(5, 40, 50)
        x, t_x = simulate_bgnbd(BgNbdParams(*theta), T, rng)
        data = (x, t_x, T)
        f, g = bgnbd_loglik, bgnbd_loglik_grad
    else:
        theta = np.array([6.0, 3.7, 15.0])
        data = (rng.integers(1, 8, 50).astype(float), rng.gamma(5.0, 8.0, 50))
        f, g = gg_loglik, gg_loglik_grad
    _, grad = g(*theta, *data)
    for i in range(theta.size):
        h = 1e-6 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        numeric = (f(*up, *data) - f(*down, *data)) / (2 * h)
        np.testing.assert_allclose(grad[i], numeric, rtol=1e-5, atol=1e-7)


def test_fit_clv_nuts_on_regular_billing_refuses_before_importing_pymc(store):
    # Monthly invoices with identical rhythm and near-constant amounts: the likelihood has
    # no finite mode, and NUTS is refused with the reason (fast, before PyMC is imported).
    rows, customers = [], []
    for i in range(40):
        customers.append((f"m{i}", date(2025, 1, 1), "consumer"))
        for k in range(12):
            rows.append((f"m{i}_{k}", f"m{i}", date(2025, 1 + k, 1), 100.0 + (i * 7 + k) % 13))
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO customers (customer_id, signup_date, segment) VALUES (?, ?, ?)",
            customers,
        )
        cur.executemany(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) VALUES (?, ?, ?, ?)",
            rows,
        )
    with pytest.raises(ClvModelError, match=r"NUTS is not useful on this data: .*search bound"):
        fit_clv(store, method="nuts")
    fit = fit_clv(store, method="map")  # MAP still predicts: about 12 invoices a year
    assert any("too regular to estimate" in n for n in fit.notes)
    assert fit.customers["expected_transactions"].mean() == pytest.approx(12.0, rel=0.1)
