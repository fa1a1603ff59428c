"""Small-sample statistics for sweep reports: Student-t intervals, Welch's t-test, Holm.

Pure Python and numpy (``math.lgamma`` for the gamma functions), so the library needs no
scipy. The Student-t distribution is evaluated through the regularised incomplete beta
function,

    P(T > t) = I_x(df/2, 1/2) / 2,   x = df / (df + t^2),   t >= 0,

with I_x summed as a continued fraction (modified Lentz), which holds for real df > 0
(Welch's degrees of freedom are not integers); ``df = math.inf`` is the normal
distribution. Quantiles are found by safeguarded Newton steps on that tail. Probabilities agree with
scipy.stats to about 1e-15 for df <= 10, 1e-13 up to 1e3 and 1e-11 up to 1e5 (lgamma of
large arguments loses digits); Welch's df lies well inside the first ranges.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from jaxstyle.errors import ConfigError

_TINY = 1e-300        # keeps the Lentz recursion away from division by zero
_EPS = 1e-15          # relative convergence of the continued fraction and of t_ppf
_MAX_TERMS = 100_000  # the continued fraction needs O(sqrt(max(a, b))) terms


def _check_df(df: float) -> float:
  df = float(df)
  if not df > 0:  # also catches NaN
    raise ConfigError(f'degrees of freedom must be > 0, got {df}')
  return df


def _beta_fraction(a: float, b: float, x: float) -> float:
  """The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2))."""
  c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
  d = 1.0 / (d if abs(d) > _TINY else _TINY)
  h = d
  for m in range(1, _MAX_TERMS):
    # Even term m (b - m) x / ((a + 2m - 1)(a + 2m)), then odd term
    # -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    for coeff in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                  -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
      d = 1.0 + coeff * d
      d = 1.0 / (d if abs(d) > _TINY else _TINY)
      c = 1.0 + coeff / c
      c = c if abs(c) > _TINY else _TINY
      step = c * d
      h *= step
    if abs(step - 1.0) < _EPS:
      return h
  raise ArithmeticError(f'incomplete beta I_{x}({a}, {b}) did not converge')


def betainc(a: float, b: float, x: float, y: float | None = None) -> float:
  """The regularised incomplete beta function I_x(a, b) for a, b > 0, 0 <= x <= 1.

  ``y`` is 1 - x when the caller knows it more precisely than ``1 - x`` (small tails).
  """
  y = 1.0 - x if y is None else y
  if x <= 0.0:
    return 0.0
  if y <= 0.0:
    return 1.0
  log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
               + a * math.log(x) + b * math.log(y))
  if x < (a + 1.0) / (a + b + 2.0):
    return math.exp(log_front) * _beta_fraction(a, b, x) / a
  return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def t_sf(t: float, df: float) -> float:
  """P(T > t) for Student's t with ``df`` > 0 degrees of freedom (real; inf: normal).

  Computed without cancellation, so tiny upper tails keep their relative accuracy.
  """
  df = _check_df(df)
  t = float(t)
  if math.isnan(t):
    return math.nan
  if math.isinf(df):
    return 0.5 * math.erfc(t / math.sqrt(2.0))
  if t < 0:
    return 1.0 - t_sf(-t, df)
  if math.isinf(t):
    return 0.0
  # x = df / (df + t^2) and y = 1 - x, each formed directly (no overflow for huge t).
  if t > 1.0:
    r = df / t / t
    x, y = r / (1.0 + r), 1.0 / (1.0 + r)
  else:
    x, y = df / (df + t * t), t * t / (df + t * t)
  return 0.5 * betainc(df / 2.0, 0.5, x, y)


def t_cdf(t: float, df: float) -> float:
  """P(T <= t) for Student's t with ``df`` > 0 degrees of freedom (real; inf: normal)."""
  return t_sf(-float(t), df)


def t_pdf(t: float, df: float) -> float:
  """The density of Student's t with ``df`` > 0 degrees of freedom at ``t``."""
  df = _check_df(df)
  if math.isinf(df):
    return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
  log_norm = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
  return math.exp(log_norm - (df + 1.0) / 2.0 * math.log1p((t / math.sqrt(df)) ** 2))


def t_ppf(q: float, df: float) -> float:
  """The ``q`` quantile of Student's t with ``df`` > 0 degrees of freedom (the t with
  P(T <= t) = q), for 0 < q < 1; ``t_ppf(0.975, 4)`` = 2.776445."""
  df = _check_df(df)
  q = float(q)
  if not 0.0 < q < 1.0:
    raise ConfigError(f'a quantile needs 0 < q < 1, got {q}')
  if q == 0.5:
    return 0.0
  # Solve t_sf(t) = p for t > 0 with p the smaller tail (1 - q is exact for q >= 1/2,
  # while 1 - q for a tiny q would lose its digits), then restore the sign.
  p, sign = (q, -1.0) if q < 0.5 else (1.0 - q, 1.0)
  lo, hi = 0.0, 1.0
  while t_sf(hi, df) > p:  # bracket: t_sf falls from 1/2 at 0 towards 0
    lo, hi = hi, 2.0 * hi
    if hi > 1e300:
      return sign * math.inf
  t = 0.5 * (lo + hi)
  for _ in range(400):
    excess = t_sf(t, df) - p
    if excess > 0:
      lo = t
    elif excess < 0:
      hi = t
    else:
      return sign * t
    density = t_pdf(t, df)
    candidate = t + excess / density if density > 0 else math.nan
    if not lo < candidate < hi:  # Newton left the bracket: bisect instead
      candidate = 0.5 * (lo + hi)
    if abs(candidate - t) <= _EPS * max(1.0, abs(t)) or hi - lo <= _EPS * hi:
      return sign * candidate
    t = candidate
  return sign * t


def _sample(values: Sequence[float]) -> np.ndarray:
  x = np.asarray(values, np.float64).reshape(-1)
  if x.size == 0:
    raise ConfigError('no values to summarise (an empty sample)')
  if not np.isfinite(x).all():
    raise ConfigError(f'non-finite values in a sample: {x.tolist()}')
  return x


def _check_level(level: float) -> float:
  if not 0.0 < level < 1.0:
    raise ConfigError(f'a confidence level needs 0 < level < 1, got {level}')
  return float(level)


def mean_ci(values: Sequence[float], level: float = 0.95):
  """(mean, s.e., lo, hi, n) of a sample: s.e. = sample std / sqrt(n) and [lo, hi] the
  Student-t interval mean ± t_{(1+level)/2, n-1} s.e.; s.e., lo and hi are None for n = 1."""
  level = _check_level(level)
  x = _sample(values)
  n, mean = x.size, float(x.mean())
  if n < 2:
    return mean, None, None, None, n
  se = float(x.std(ddof=1)) / math.sqrt(n)
  half = t_ppf((1.0 + level) / 2.0, n - 1) * se
  return mean, se, mean - half, mean + half, n


def prediction_interval(values: Sequence[float], level: float = 0.95):
  """(lo, hi) where ONE new draw from the values' distribution falls with probability
  ``level`` (normal model): mean ± t_{(1+level)/2, n-1} · sd · sqrt(1 + 1/n). None for n < 2.

  Wider than the mean's interval: it holds the spread of single seeds, not of the mean.
  """
  level = _check_level(level)
  x = _sample(values)
  n = x.size
  if n < 2:
    return None
  half = t_ppf((1.0 + level) / 2.0, n - 1) * float(x.std(ddof=1)) * math.sqrt(1.0 + 1.0 / n)
  mean = float(x.mean())
  return mean - half, mean + half


def welch(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict | None:
  """Welch's unequal-variance t-test of mean(a) = mean(b); None if either has n < 2.

  Returns dict(diff = mean(a) - mean(b), se = sqrt(var_a/n_a + var_b/n_b), df (Welch–
  Satterthwaite), t = diff / se, p (two-sided), lo, hi (the ``level`` interval of diff)).
  When both samples have zero variance the test degenerates: equal means give t = 0,
  p = 1; different means t = ±inf, p = 0 (the samples never overlap); either way
  lo = hi = diff and df = n_a + n_b - 2.
  """
  level = _check_level(level)
  x, y = _sample(a), _sample(b)
  if x.size < 2 or y.size < 2:
    return None
  va, vb = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
  diff = float(x.mean() - y.mean())
  se = math.sqrt(va + vb)
  if se == 0.0:
    t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return {'diff': diff, 'se': 0.0, 'df': float(x.size + y.size - 2), 't': t,
            'p': 1.0 if diff == 0.0 else 0.0, 'lo': diff, 'hi': diff}
  df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1))
  t = diff / se
  half = t_ppf((1.0 + level) / 2.0, df) * se
  return {'diff': diff, 'se': se, 'df': df, 't': t, 'p': min(1.0, 2.0 * t_sf(abs(t), df)),
          'lo': diff - half, 'hi': diff + half}


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
  """Holm–Bonferroni adjusted p-values, in the input order (None entries are skipped and
  not counted). Rejecting where the adjusted p < alpha keeps the chance of any false
  positive among the m tests at most alpha, whatever their dependence."""
  present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
  adjusted: list[float | None] = [None] * len(pvalues)
  running = 0.0
  for rank, (p, i) in enumerate(present):
    running = max(running, min(1.0, (len(present) - rank) * p))
    adjusted[i] = running
  return adjusted
