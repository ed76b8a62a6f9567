"""The full posterior of both models by PyMC NUTS; the package's only PyMC entry point."""

from __future__ import annotations

from typing import Any

import numpy as np

from metrics.clv_models import LOG_PRIOR_SD, ProgressFn
from metrics.clv_models.closed_forms import BGNBD_NAMES, GG_NAMES


def sample_posterior(
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    zbar: np.ndarray,
    *,
    init: tuple[np.ndarray, np.ndarray],
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    report: ProgressFn,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws of (r, α, a, b) and (p, q, γ) by NUTS; the only PyMC entry point."""
    import pymc as pm  # noqa: PLC0415 - 3.5 s import, kept off every start-up path
    import pytensor.tensor as pt  # noqa: PLC0415

    keep = (x > 0) & (zbar > 0)
    xg, zg = x[keep], zbar[keep]
    has_rep = (x > 0).astype(float)
    with pm.Model() as model:
        lr = pm.Normal("log_r", 0.0, LOG_PRIOR_SD)
        lal = pm.Normal("log_alpha", 0.0, LOG_PRIOR_SD)
        la = pm.Normal("log_a", 0.0, LOG_PRIOR_SD)
        lb = pm.Normal("log_b", 0.0, LOG_PRIOR_SD)
        r, alpha, a, b = pt.exp(lr), pt.exp(lal), pt.exp(la), pt.exp(lb)
        # [FHL05] eq. (6), the same A1..A4 form as bgnbd_loglik.
        a1 = pt.gammaln(r + x) - pt.gammaln(r) + r * pt.log(alpha)
        a2 = pt.gammaln(a + b) + pt.gammaln(b + x) - pt.gammaln(b) - pt.gammaln(a + b + x)
        a3 = -(r + x) * pt.log(alpha + T)
        # b + x - 1 > 0 wherever x > 0; elsewhere feed a harmless 1 and mask the term out.
        bx1 = pt.switch(has_rep > 0, b + x - 1, 1.0)
        a4 = pt.log(a) - pt.log(bx1) - (r + x) * pt.log(alpha + t_x)
        a4 = pt.switch(has_rep > 0, a4, -np.inf)
        pm.Potential("bgnbd", pt.sum(a1 + a2 + pt.logaddexp(a3, a4)))
        lp = pm.Normal("log_p", 0.0, LOG_PRIOR_SD)
        lq = pm.Normal("log_q", 0.0, LOG_PRIOR_SD)
        lg = pm.Normal("log_gamma", 0.0, LOG_PRIOR_SD)
        p, q, g = pt.exp(lp), pt.exp(lq), pt.exp(lg)
        px = p * xg
        # [FH13], marginal density of zbar (as gg_loglik).
        gg = (
            pt.gammaln(px + q)
            - pt.gammaln(px)
            - pt.gammaln(q)
            + q * pt.log(g)
            + (px - 1) * np.log(zg)
            + px * np.log(xg)
            - (px + q) * pt.log(g + xg * zg)
        )
        pm.Potential("gamma_gamma", pt.sum(gg))
        # Start at the MAP: tuning is then short and never wanders into overflow.
        bg0, gg0 = init
        initvals = dict(zip(("log_r", "log_alpha", "log_a", "log_b"), bg0, strict=True))
        initvals |= dict(zip(("log_p", "log_q", "log_gamma"), gg0, strict=True))
        total = chains * (draws + tune)
        done = [0]

        def callback(trace: Any, draw: Any) -> None:
            done[0] += 1
            if done[0] % 25 == 0:
                report(0.35 + 0.5 * done[0] / total, f"sampling {done[0]}/{total}")

        report(0.35, "compiling and sampling (NUTS)")
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=seed,
            initvals=initvals,
            progressbar=False,
            callback=callback,
            model=model,
            compute_convergence_checks=False,
        )
    post = idata.posterior
    bg = np.column_stack([np.exp(post[f"log_{n}"].values.ravel()) for n in BGNBD_NAMES])
    gg_draws = np.column_stack([np.exp(post[f"log_{n}"].values.ravel()) for n in GG_NAMES])
    return bg, gg_draws
