"""Improved precision and recall, density and coverage of generated features.

Real features X (N, D), generated features Y (M, D), any feature space (Inception pool3,
a classifier's penultimate layer, raw 2D points). NND_k(x) is the Euclidean distance from
x to its k-th nearest neighbour in its own set, the point itself excluded (its distance 0
is the 0-th; a duplicate of it counts as a neighbour at distance 0). B(x, r) is the closed
ball: a point z is inside when ``||z - x|| <= r``.

Precision and recall (Kynkäänniemi et al. 2019, k = 3): a set's manifold is the union of
the balls B(x, NND_k(x)) around its points;
  precision = 1/M sum_j 1[Y_j in the real manifold]
  recall    = 1/N sum_i 1[X_i in the generated manifold].
Density and coverage (Naeem et al. 2020, k = 5), real balls only:
  density   = 1/(kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]      (can exceed 1)
  coverage  = 1/N sum_i 1[some Y_j in B(X_i, NND_k(X_i))].
For two samples of one distribution E[density] = 1 and coverage tends to 1 - 2^-k (N = M).
For identical sets in general position precision = recall = coverage = 1 and, with the
closed ball, density = (k + 1)/k exactly: each X_i's ball holds X_i and its k neighbours.
(Naeem et al.'s ``prdc`` package uses the open ball, ``<``, which gives 1 there; the two
conventions differ only for points exactly on a ball's boundary. NVlabs' precision-recall
code uses ``<=``.)

Protocol: deterministic, every pair of points (no subsampling). Distances are float64.
Pairs are first screened in row chunks with ``|x|^2 + |y|^2 - 2 x.y`` (one matrix product
per chunk, features centred on the real mean), so 10k x 10k points need memory for one
chunk only; a pair whose screened squared distance lies within the proven rounding bound
of a radius is decided by the exact squared distance, ``sum_d (x_d - y_d)^2`` summed in
float64 in coordinate order. Radii are exact squared distances of the neighbour that the
screening ranks k-th, so a generated point equal to a real one's neighbour lands exactly
on that ball's boundary, inside. (Two neighbours whose distances agree to ~1e-12 may be
ranked either way; the radius then moves by as little.)
"""

from __future__ import annotations

import numpy as np

from jaxstyle.errors import ConfigError

# Screening block: at most CHUNK_ROWS rows and CHUNK_ELEMENTS float64 entries (64 MiB).
CHUNK_ROWS = 1000
CHUNK_ELEMENTS = 1 << 23
# Exact distances are computed for at most this many pairs at a time.
_EXACT_PAIRS = 1 << 15


def knn_radii(features, k: int) -> np.ndarray:
  """NND_k of every row of ``features`` (N, D): the distance to its k-th nearest other row
  (float64, (N,)). Needs N >= k + 1."""
  _check_k('k', k)
  x = _features('features', features, k + 1, f'the k={k} nearest-neighbour radius')
  return np.sqrt(_Screen(x, x).radii_sq([k])[k])


def precision_recall(real, fake, k: int = 3) -> dict:
  """Improved precision and recall of ``fake`` (M, D) against ``real`` (N, D) with
  k-th-neighbour balls; {'precision', 'recall', 'k', 'num_real', 'num_fake'}."""
  out = prdc(real, fake, k_pr=k, k_dc=None)
  return {'precision': out['precision'], 'recall': out['recall'], 'k': k,
          'num_real': out['num_real'], 'num_fake': out['num_fake']}


def density_coverage(real, fake, k: int = 5) -> dict:
  """Density and coverage of ``fake`` (M, D) against ``real`` (N, D) with k-th-neighbour
  balls around the real points; {'density', 'coverage', 'k', 'num_real', 'num_fake'}."""
  out = prdc(real, fake, k_pr=None, k_dc=k)
  return {'density': out['density'], 'coverage': out['coverage'], 'k': k,
          'num_real': out['num_real'], 'num_fake': out['num_fake']}


def prdc(real, fake, k_pr: int | None = 3, k_dc: int | None = 5) -> dict:
  """Precision, recall (k_pr) and density, coverage (k_dc) of ``fake`` (M, D) against
  ``real`` (N, D) in one pass over the pairs; see the module docstring.

  Returns {'precision', 'recall', 'density', 'coverage', 'k_pr', 'k_dc', 'num_real',
  'num_fake'} as plain floats and ints (k_pr=None or k_dc=None leaves that pair out).
  Needs N >= max(k_pr, k_dc) + 1 and M >= k_pr + 1 (the generated balls); M >= 1 for
  density and coverage alone.
  """
  ks_real = [k for k in (k_pr, k_dc) if k is not None]
  if not ks_real:
    raise ConfigError('prdc: k_pr and k_dc are both None; give at least one of them')
  for name, k in (('k_pr', k_pr), ('k_dc', k_dc)):
    if k is not None:
      _check_k(name, k)
  x = _features('real', real, max(ks_real) + 1,
                f'the k={max(ks_real)} nearest-neighbour radius')
  y = (_features('fake', fake, k_pr + 1, f'the k={k_pr} nearest-neighbour radius')
       if k_pr is not None else _features('fake', fake, 1, 'density and coverage'))
  if x.shape[1] != y.shape[1]:
    raise ConfigError(f'prdc: real features are {x.shape[1]}-d but fake features are '
                      f'{y.shape[1]}-d; compute both with the same feature extractor')
  centre = x.mean(0)  # screening is translation invariant; centring tightens its bound
  real_r2 = _Screen(x, x, centre).radii_sq(ks_real)
  fake_r2 = _Screen(y, y, centre).radii_sq([k_pr])[k_pr] if k_pr is not None else None

  in_real_pr = np.zeros(len(y), bool)     # precision: Y_j in some real k_pr ball
  recalled = np.zeros(len(x), bool)       # recall: X_i in some generated ball
  ball_count = 0                          # density: pairs (j, i) with Y_j in B(X_i)
  covered = np.zeros(len(x), bool)        # coverage: X_i's ball holds some Y_j
  cross = _Screen(y, x, centre)
  for rows, screened in cross.blocks():
    if k_pr is not None:
      in_real_pr[rows] = cross.inside(rows, screened, real_r2[k_pr][None, :]).any(1)
      recalled |= cross.inside(rows, screened, fake_r2[rows][:, None]).any(0)
    if k_dc is not None:
      inside = cross.inside(rows, screened, real_r2[k_dc][None, :])
      ball_count += int(inside.sum())
      covered |= inside.any(0)
  out = {'precision': None, 'recall': None, 'density': None, 'coverage': None,
         'k_pr': k_pr, 'k_dc': k_dc, 'num_real': len(x), 'num_fake': len(y)}
  if k_pr is not None:
    out.update(precision=float(in_real_pr.mean()), recall=float(recalled.mean()))
  if k_dc is not None:
    out.update(density=float(ball_count / (k_dc * len(y))), coverage=float(covered.mean()))
  return out


def _check_k(name, k):
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
    raise ConfigError(f'prdc: {name} must be a positive integer, got {k!r}')


def _features(name, features, min_rows, why) -> np.ndarray:
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or x.shape[1] == 0:
    raise ConfigError(f'prdc: {name} features must be a 2-D array (num_samples, dim), got '
                      f'shape {x.shape}; pass one feature vector per row')
  if len(x) < min_rows:
    raise ConfigError(f'prdc: {name} features have {len(x)} rows, but {why} needs at '
                      f'least {min_rows}; pass more samples or a smaller k')
  if not np.isfinite(x).all():
    raise ConfigError(f'prdc: {name} features contain NaN or Inf '
                      f'({int((~np.isfinite(x)).any(1).sum())} rows); drop or fix those '
                      f'samples')
  return x


def _exact_sq(a, b, i, j) -> np.ndarray:
  """sum_d (a[i, d] - b[j, d])^2 in float64, coordinates added in order: the same bits
  for (a_i, b_j) and (b_j, a_i), whatever else is computed alongside."""
  out = np.empty(len(i))
  for s in range(0, len(i), _EXACT_PAIRS):
    u, v = a[i[s:s + _EXACT_PAIRS]], b[j[s:s + _EXACT_PAIRS]]
    acc = np.zeros(len(u))
    for d in range(u.shape[1]):
      diff = u[:, d] - v[:, d]
      acc += diff * diff
    out[s:s + _EXACT_PAIRS] = acc
  return out


class _Screen:
  """Screened squared distances between the rows of ``a`` and of ``b``, one row block at
  a time, with a bound on their error against ``_exact_sq``."""

  def __init__(self, a, b, centre=None):
    self.a, self.b = a, b
    centre = a.mean(0) if centre is None else centre
    self.ac, self.bc = a - centre, b - centre
    self.an = np.einsum('nd,nd->n', self.ac, self.ac)
    self.bn = np.einsum('nd,nd->n', self.bc, self.bc)
    # |screened - exact| <= (4D + 12) eps (|a_c|^2 + |b_c|^2): the dot product, the norms,
    # the centring and the exact sum's own rounding; twice that for margin.
    self.tol_scale = (8 * a.shape[1] + 32) * np.finfo(np.float64).eps
    self.rows = max(1, min(CHUNK_ROWS, CHUNK_ELEMENTS // len(b)))

  def blocks(self):
    """(row slice, (screened squared distances, their error bounds), both (rows, len(b)))
    for each row block."""
    for start in range(0, len(self.a), self.rows):
      rows = slice(start, min(start + self.rows, len(self.a)))
      norms = self.an[rows, None] + self.bn[None, :]
      block = np.maximum(norms - 2.0 * (self.ac[rows] @ self.bc.T), 0.0)
      yield rows, (block, self.tol_scale * norms)

  def radii_sq(self, ks) -> dict:
    """{k: exact squared NND_k of every row of ``a``} (``a`` is ``b``)."""
    out = {k: np.empty(len(self.a)) for k in ks}
    for rows, (block, _) in self.blocks():
      local = np.arange(rows.stop - rows.start)
      block[local, local + rows.start] = -np.inf  # the point itself: always the 0-th
      order = np.argpartition(block, sorted(set(ks)), axis=1)
      for k in ks:
        out[k][rows] = _exact_sq(self.a, self.b, local + rows.start, order[:, k])
    return out

  def inside(self, rows, screened, radius_sq) -> np.ndarray:
    """Closed-ball membership, exact squared distance <= ``radius_sq`` (broadcast to the
    block), for every pair of a block from ``blocks``."""
    block, tol = screened
    radius_sq = np.broadcast_to(radius_sq, block.shape)
    inside = block <= radius_sq - tol
    unsure = ~inside & (block <= radius_sq + tol)
    i, j = np.nonzero(unsure)
    if len(i):
      inside[i, j] = _exact_sq(self.a, self.b, i + rows.start, j) <= radius_sq[i, j]
    return inside
