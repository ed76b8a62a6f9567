"""Posterior marginals of one arm and exact 1-D quadrature for differences and ratios of two arms.

Every quantity about two independent arms X (control) and Y (variant) is a one-dimensional
expectation over one arm, e.g. P(Y − X > t) = E_X[P(Y > X + t)]. We take that expectation
over the narrower arm (the other arm's cdf is then smooth on its scale) with Gauss-Legendre
quadrature after the probit substitution x = F⁻¹(Φ(z)), z ∈ [−Z, Z]: the integrand is smooth
in z even for skewed or J-shaped Beta posteriors, and the mass beyond |z| = 8.5 is < 2e-17.
Where a shifted comparison puts the other arm's support bound inside the range (a kink of the
integrand, e.g. Beta(21, 1) against a shift), the z interval is split there. With 96 nodes the
results agree with scipy.integrate.quad to ~1e-9 on Beta and Student-t arms (tests pin 1e-6 to
1e-8); quantiles of the lift are solved by safeguarded Newton to |F − p| < 1e-10.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy import special as sc

_Z = 8.5
_NODES = 96
_gl_x, _gl_w = leggauss(_NODES)
Z_NODES = _gl_x * _Z
# Weights of E[g(Z)] for Z ~ N(0,1), normalised so the truncated mass sums to exactly 1.
_w = _gl_w * _Z * np.exp(-0.5 * Z_NODES**2) / math.sqrt(2 * math.pi)
W_NODES = _w / _w.sum()


# Where a marginal is evaluated: one point or an array of points (the result has its shape).
Values = float | np.ndarray


class Marginal:
    """A one-dimensional posterior with vectorised cdf, sf, pdf and partial expectations."""

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def sd(self) -> float:
        raise NotImplementedError

    def cdf(self, x: Values) -> np.ndarray:
        raise NotImplementedError

    def sf(self, x: Values) -> np.ndarray:
        return 1.0 - self.cdf(x)

    def pdf(self, x: Values) -> np.ndarray:
        raise NotImplementedError

    lower: float = -math.inf  # support bounds: a kink of the integrand sits where a
    upper: float = math.inf  # shifted argument crosses them

    def sharp_bounds(self) -> tuple[float, ...]:
        """Support bounds where the cdf is not smooth enough for Gauss-Legendre to cross."""
        return ()

    def ppf_z(self, z: np.ndarray) -> np.ndarray:
        """Quantile at probability Φ(z), with the upper tail computed from Φ(−z) for precision."""
        raise NotImplementedError

    @cached_property
    def nodes(self) -> np.ndarray:
        """Quantiles at the probit quadrature nodes (cached: the costly part of a quadrature)."""
        return self.ppf_z(Z_NODES)

    @cached_property
    def rule(self) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature nodes and weights for E[g(V)]."""
        return self.nodes, W_NODES

    def upper_partial(self, x: Values) -> np.ndarray:
        """E[(V − x)⁺]."""
        raise NotImplementedError

    def lower_partial(self, x: Values) -> np.ndarray:
        """E[(x − V)⁺] = x − E[V] + E[(V − x)⁺]."""
        return x - self.mean + self.upper_partial(x)

    def ppf(self, q: float) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def spread(self) -> float:
        return self.sd


@dataclass(frozen=True)
class BetaMarginal(Marginal):
    a: float
    b: float

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    @property
    def sd(self) -> float:
        s = self.a + self.b
        return math.sqrt(self.a * self.b / (s * s * (s + 1)))

    def cdf(self, x):
        return sc.betainc(self.a, self.b, np.clip(x, 0.0, 1.0))

    def sf(self, x):
        # I_{1−x}(b, a) = 1 − I_x(a, b); scipy's betaincc is several times slower than betainc.
        return sc.betainc(self.b, self.a, 1.0 - np.clip(x, 0.0, 1.0))

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x > 0) & (x < 1)
        xc = np.where(inside, x, 0.5)
        logp = sc.xlogy(self.a - 1, xc) + sc.xlog1py(self.b - 1, -xc) - sc.betaln(self.a, self.b)
        return np.where(inside, np.exp(logp), 0.0)

    lower, upper = 0.0, 1.0

    @cached_property
    def rule(self):
        if min(self.a, self.b) < 100:
            return self.nodes, W_NODES
        # Large counts (skewness ≤ ~0.2): a linear map
        # x = mean + sd·z with density weights integrates as accurately and avoids ~200 costly
        # betaincinv calls (checked against scipy quad to 1e-10 in the tests).
        x = self.mean + self.sd * Z_NODES
        w = _gl_w * self.pdf(x)
        return x, w / w.sum()

    def sharp_bounds(self):
        # Near 0 the cdf behaves like x^a: for a ≥ 5 it is smooth enough (checked against
        # scipy quad to 1e-9); below that, e.g. 0 or 1 successes, the interval is split there.
        return tuple(b for b, p in ((0.0, self.a), (1.0, self.b)) if p < 5)

    def ppf_z(self, z):
        return np.where(
            z <= 0,
            sc.betaincinv(self.a, self.b, sc.ndtr(z)),
            sc.betainccinv(self.a, self.b, sc.ndtr(-z)),
        )

    def upper_partial(self, x):
        # E[V·1(V>x)] = mean·P(V' > x) with V' ~ Beta(a+1, b).
        x = np.asarray(x, dtype=float)
        xc = np.clip(x, 0.0, 1.0)
        inner = self.mean * sc.betainc(self.b, self.a + 1, 1.0 - xc) - xc * sc.betainc(
            self.b, self.a, 1.0 - xc
        )
        return np.where(x < 0, self.mean - x, np.where(x > 1, 0.0, inner))

    def ppf(self, q):
        return float(sc.betaincinv(self.a, self.b, q))

    def sample(self, rng, size):
        return rng.beta(self.a, self.b, size)


@dataclass(frozen=True)
class StudentTMarginal(Marginal):
    loc: float
    scale: float
    df: float

    @property
    def mean(self) -> float:
        return self.loc

    @property
    def sd(self) -> float:
        return self.scale * math.sqrt(self.df / (self.df - 2)) if self.df > 2 else math.inf

    @property
    def spread(self) -> float:
        return self.scale

    def _z(self, x):
        return (np.asarray(x, dtype=float) - self.loc) / self.scale

    def cdf(self, x):
        return sc.stdtr(self.df, self._z(x))

    def sf(self, x):
        return sc.stdtr(self.df, -self._z(x))

    def _std_pdf(self, z):
        v = self.df
        c = sc.gammaln((v + 1) / 2) - sc.gammaln(v / 2) - 0.5 * math.log(v * math.pi)
        return np.exp(c - (v + 1) / 2 * np.log1p(z * z / v))

    def pdf(self, x):
        return self._std_pdf(self._z(x)) / self.scale

    def ppf_z(self, z):
        # The t is symmetric: one stdtrit per node, on the lower tail Φ(−|z|) for precision
        # (np.where over two stdtrit calls cost twice as much, the batch replay's hot spot).
        z = np.asarray(z, dtype=float)
        upper = -sc.stdtrit(self.df, sc.ndtr(-np.abs(z)))
        return self.loc + self.scale * np.where(z < 0, -upper, upper)

    def upper_partial(self, x):
        # E[(T − z)⁺] = (ν + z²)/(ν − 1)·f(z) − z·(1 − F(z)) for a standard t with ν > 1.
        z = self._z(x)
        v = self.df
        return self.scale * ((v + z * z) / (v - 1) * self._std_pdf(z) - z * sc.stdtr(v, -z))

    def ppf(self, q):
        return float(self.loc + self.scale * sc.stdtrit(self.df, q))

    def sample(self, rng, size):
        return self.loc + self.scale * rng.standard_t(self.df, size)


@dataclass(frozen=True)
class NormalMarginal(Marginal):
    loc: float
    scale: float

    @property
    def mean(self) -> float:
        return self.loc

    @property
    def sd(self) -> float:
        return self.scale

    def _z(self, x):
        return (np.asarray(x, dtype=float) - self.loc) / self.scale

    def cdf(self, x):
        return sc.ndtr(self._z(x))

    def sf(self, x):
        return sc.ndtr(-self._z(x))

    def pdf(self, x):
        z = self._z(x)
        return np.exp(-0.5 * z * z) / (self.scale * math.sqrt(2 * math.pi))

    def ppf_z(self, z):
        return self.loc + self.scale * np.asarray(z, dtype=float)

    def upper_partial(self, x):
        z = self._z(x)
        return self.scale * (np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) - z * sc.ndtr(-z))

    def ppf(self, q):
        return float(self.loc + self.scale * sc.ndtri(q))

    def sample(self, rng, size):
        return rng.normal(self.loc, self.scale, size)


@dataclass(frozen=True)
class LogNormalMarginal(Marginal):
    """exp(N(mu, sigma²)): the posterior of an original-scale mean from log-scale statistics."""

    mu: float
    sigma: float

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def sd(self) -> float:
        return self.mean * math.sqrt(math.expm1(self.sigma**2))

    def _z(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                x > 0, (np.log(np.where(x > 0, x, 1.0)) - self.mu) / self.sigma, -np.inf
            )

    def cdf(self, x):
        return sc.ndtr(self._z(x))

    def sf(self, x):
        return sc.ndtr(-self._z(x))

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        z = self._z(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.exp(-0.5 * z * z) / (
                np.where(x > 0, x, 1.0) * self.sigma * math.sqrt(2 * math.pi)
            )
        return np.where(x > 0, d, 0.0)

    lower = 0.0

    def ppf_z(self, z):
        return np.exp(self.mu + self.sigma * np.asarray(z, dtype=float))

    def upper_partial(self, x):
        x = np.asarray(x, dtype=float)
        z = self._z(x)
        inner = self.mean * sc.ndtr(self.sigma - z) - np.where(x > 0, x, 0.0) * sc.ndtr(-z)
        return np.where(x > 0, inner, self.mean - x)

    def ppf(self, q):
        return float(math.exp(self.mu + self.sigma * sc.ndtri(q)))

    def sample(self, rng, size):
        return np.exp(rng.normal(self.mu, self.sigma, size))


@dataclass(frozen=True)
class PointMass(Marginal):
    """A known value (an arm with zero variance): treated as certain, which is overconfident."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    @property
    def sd(self) -> float:
        return 0.0

    def cdf(self, x):
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def sf(self, x):
        return (np.asarray(x, dtype=float) < self.value).astype(float)

    def pdf(self, x):
        return np.zeros_like(np.asarray(x, dtype=float))

    def ppf_z(self, z):
        return np.full(np.shape(z), self.value)

    def sharp_bounds(self):
        return (self.value,)

    def upper_partial(self, x):
        return np.maximum(self.value - np.asarray(x, dtype=float), 0.0)

    def ppf(self, q):
        return self.value

    def sample(self, rng, size):
        return np.full(size, self.value)


# ---------------------------------------------------------------- two-arm quadrature


def _expect(
    m: Marginal, g: Callable[[np.ndarray], np.ndarray], kinks: tuple[float, ...] = ()
) -> np.ndarray:
    """E[g(V)] for V ~ m; g maps nodes (shape (K,)) broadcast against a trailing axis.

    `kinks` are points where g is not smooth (another arm's support bound, shifted); if one
    falls inside m's range the z interval is split there so Gauss-Legendre stays accurate.
    """
    nodes, weights = m.rule
    inner = sorted(k for k in kinks if math.isfinite(k) and nodes[0] < k < nodes[-1])
    if not inner:
        return g(nodes) @ weights
    cuts = []
    for k in inner:
        c = float(m.cdf(k))
        cuts.append(float(sc.ndtri(c)) if c < 0.5 else -float(sc.ndtri(float(m.sf(k)))))
    edges = [-_Z, *sorted(min(max(c, -_Z), _Z) for c in cuts), _Z]
    total = np.zeros(())
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b - a <= 1e-12:
            continue
        z = 0.5 * (b - a) * _gl_x + 0.5 * (a + b)
        w = 0.5 * (b - a) * _gl_w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        total = total + g(m.ppf_z(z)) @ w
    return total / _w.sum()


# fn(values, kinks): values are a column of points (shape (..., 1)) or one point, kinks the
# sharp points of the integrand for that point; kinks_of(point) finds them.
PerValueFn = Callable[[Values, tuple[float, ...]], np.ndarray]
KinksOf = Callable[[float], tuple[float, ...]]


def _per_value(values: Values, fn: PerValueFn, kinks_of: KinksOf) -> np.ndarray:
    """Evaluate fn vectorised when no value puts a kink inside the range, else one by one."""
    arr = np.asarray(values, dtype=float)
    if not any(kinks_of(v) for v in arr.reshape(-1)):
        return fn(arr[..., None], ())
    flat = [float(fn(float(v), kinks_of(float(v)))) for v in arr.reshape(-1)]
    return np.asarray(flat).reshape(arr.shape)


def _diff_kinks(x: Marginal, y: Marginal, over_x: bool) -> KinksOf:
    # Integrating over X, Y's kinks b sit at v = b − d; over Y, X's at v = b + d.
    if over_x:
        return lambda dv: tuple(b - dv for b in y.sharp_bounds())
    return lambda dv: tuple(b + dv for b in x.sharp_bounds())


def prob_diff_greater(x: Marginal, y: Marginal, t: Values = 0.0) -> np.ndarray:
    """P(Y − X > t), vectorised over t (integrated over the narrower arm)."""
    over_x = x.spread <= y.spread
    if over_x:
        fn = lambda tt, k: _expect(x, lambda v: y.sf(v + tt), k)  # noqa: E731
    else:
        fn = lambda tt, k: _expect(y, lambda v: x.cdf(v - tt), k)  # noqa: E731
    return _per_value(t, fn, _diff_kinks(x, y, over_x))


def diff_pdf(x: Marginal, y: Marginal, d: Values) -> np.ndarray:
    """Density of D = Y − X at d (0 if both arms are point masses)."""
    over_x = x.spread <= y.spread
    if over_x:
        fn = lambda dd, k: _expect(x, lambda v: y.pdf(v + dd), k)  # noqa: E731
    else:
        fn = lambda dd, k: _expect(y, lambda v: x.pdf(v - dd), k)  # noqa: E731
    return _per_value(d, fn, _diff_kinks(x, y, over_x))


def _ratio_over_x(x: Marginal, y: Marginal, r: Values) -> bool:
    return x.spread <= y.spread or bool(np.any(np.asarray(r) <= 0))


def _ratio_kinks(x: Marginal, y: Marginal, over_x: bool) -> KinksOf:
    if over_x:
        return lambda rv: tuple(b / rv for b in y.sharp_bounds()) if rv > 0 else ()
    return lambda rv: tuple(b * rv for b in x.sharp_bounds())


def ratio_cdf(x: Marginal, y: Marginal, r: Values) -> np.ndarray:
    """P(Y/X ≤ r) for X > 0."""
    over_x = _ratio_over_x(x, y, r)
    if over_x:
        fn = lambda rr, k: _expect(x, lambda v: y.cdf(rr * v), k)  # noqa: E731
    else:
        fn = lambda rr, k: _expect(y, lambda v: x.sf(v / rr), k)  # noqa: E731
    return _per_value(r, fn, _ratio_kinks(x, y, over_x))


def ratio_pdf(x: Marginal, y: Marginal, r: Values) -> np.ndarray:
    over_x = _ratio_over_x(x, y, r)
    if over_x:
        fn = lambda rr, k: _expect(x, lambda v: v * y.pdf(rr * v), k)  # noqa: E731
    else:
        fn = lambda rr, k: _expect(y, lambda v: x.pdf(v / rr) * v / (rr * rr), k)  # noqa: E731
    return _per_value(r, fn, _ratio_kinks(x, y, over_x))


def expected_excess(x: Marginal, y: Marginal) -> float:
    """E[max(Y − X, 0)]."""
    if x.spread <= y.spread:
        return float(_expect(x, y.upper_partial, y.sharp_bounds()))
    return float(_expect(y, x.lower_partial, x.sharp_bounds()))


def solve_quantiles(
    cdf: Callable[[np.ndarray], np.ndarray],
    pdf: Callable[[np.ndarray], np.ndarray],
    probs: np.ndarray,
    guess: np.ndarray,
    scale: float,
    tol: float = 1e-10,
) -> np.ndarray:
    """Vectorised safeguarded Newton from a normal-approximation guess.

    Every evaluation narrows a bracket [lo, hi]; a Newton step leaving it is replaced by
    bisection, or by a doubling step while one side is still open.
    """
    probs = np.asarray(probs, dtype=float)
    x = np.asarray(guess, dtype=float).copy()
    scale = scale if scale > 0 and math.isfinite(scale) else 1.0
    lo = np.full_like(x, -np.inf)
    hi = np.full_like(x, np.inf)
    step_out = np.full_like(x, scale)
    for _ in range(200):
        f = cdf(x) - probs
        done = np.abs(f) < tol
        lo = np.where(f < 0, x, lo)
        hi = np.where(f > 0, x, hi)
        width = hi - lo
        if done.all() or np.all(done | (width <= 1e-13 * (np.abs(x) + scale))):
            break
        dens = pdf(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = x - f / dens
        ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
        bounded = np.isfinite(lo) & np.isfinite(hi)
        fallback = np.where(bounded, 0.5 * (lo + hi), np.where(f < 0, x + step_out, x - step_out))
        step_out = np.where(ok | bounded, step_out, 2 * step_out)
        x = np.where(done, x, np.where(ok, newton, fallback))
    return x


# ---------------------------------------------------------------- comparison builder


def interval_of(m: Marginal, ci: float) -> tuple[float, float]:
    a = (1 - ci) / 2
    return m.ppf(a), m.ppf(1 - a)


def lift_intervals(
    x: Marginal, y: Marginal, ci: float, *, relative: bool = True
) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """Equal-tailed intervals of Y − X and (if X > 0 a.s.) of Y/X − 1."""
    a = (1 - ci) / 2
    probs = np.array([a, 1 - a])
    sd_d = math.hypot(x.spread, y.spread)
    if sd_d == 0:
        d = y.mean - x.mean
        abs_ci = (d, d)
    else:
        guess = (y.mean - x.mean) + sd_d * sc.ndtri(probs)
        q = solve_quantiles(
            lambda d: 1.0 - prob_diff_greater(x, y, d),
            lambda d: diff_pdf(x, y, d),
            probs,
            guess,
            sd_d,
        )
        abs_ci = (float(q[0]), float(q[1]))
    rel_ci = None
    if relative and x.mean > 0 and float(x.cdf(0.0)) < 1e-9:
        r0 = y.mean / x.mean
        if sd_d == 0:
            rel_ci = (r0 - 1, r0 - 1)
        else:
            sd_r = abs(r0) * math.hypot(x.spread / x.mean, y.spread / max(abs(y.mean), 1e-300))
            sd_r = sd_r if math.isfinite(sd_r) and sd_r > 0 else 1.0
            if y.mean > 0 and float(y.cdf(0.0)) < 1e-9:
                # Both positive: log(Y/X) is closer to normal than Y/X (skewed at small n).
                s_log = math.hypot(x.spread / x.mean, y.spread / y.mean)
                guess = r0 * np.exp(s_log * sc.ndtri(probs) - 0.5 * s_log**2)
            else:
                guess = r0 + sd_r * sc.ndtri(probs)
            q = solve_quantiles(
                lambda r: ratio_cdf(x, y, r), lambda r: ratio_pdf(x, y, r), probs, guess, sd_r
            )
            rel_ci = (float(q[0]) - 1, float(q[1]) - 1)
    return abs_ci, rel_ci
