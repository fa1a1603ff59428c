"""Precision/recall and density/coverage against a brute-force transcription of the
definitions and on sets whose answers are known by hand."""

import math

import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.metrics import prdc


def brute_force(real, fake, k_pr=3, k_dc=5):
  """The papers' definitions with plain loops: closed balls, the point itself excluded
  from its own neighbours."""
  def dist(a, b):
    return math.sqrt(sum((float(u) - float(v)) ** 2 for u, v in zip(a, b)))

  def radii(x, k):
    return [sorted(dist(p, q) for j, q in enumerate(x) if j != i)[k - 1]
            for i, p in enumerate(x)]

  r_real, r_fake, rho = radii(real, k_pr), radii(fake, k_pr), radii(real, k_dc)
  d = [[dist(y, x) for x in real] for y in fake]   # d[j][i] = |Y_j - X_i|
  n, m = len(real), len(fake)
  precision = sum(any(d[j][i] <= r_real[i] for i in range(n)) for j in range(m)) / m
  recall = sum(any(d[j][i] <= r_fake[j] for j in range(m)) for i in range(n)) / n
  density = sum(d[j][i] <= rho[i] for j in range(m) for i in range(n)) / (k_dc * m)
  coverage = sum(any(d[j][i] <= rho[i] for j in range(m)) for i in range(n)) / n
  return {'precision': precision, 'recall': recall, 'density': density,
          'coverage': coverage, 'radii': np.array(r_real)}


def line(n):
  """n points at 0, 1, ..., n - 1 on the first axis of R^3: distances are exact integers."""
  x = np.zeros((n, 3))
  x[:, 0] = np.arange(n)
  return x


@pytest.mark.parametrize('k_pr,k_dc', [(3, 5), (1, 2)])
def test_prdc_equals_a_brute_force_transcription(k_pr, k_dc):
  rng = np.random.default_rng(0)
  real = rng.normal(size=(60, 5))
  fake = 1.3 * rng.normal(size=(45, 5)) + 0.4
  ref = brute_force(real, fake, k_pr, k_dc)
  got = prdc.prdc(real, fake, k_pr, k_dc)
  for name in ('precision', 'recall', 'density', 'coverage'):
    assert got[name] == pytest.approx(ref[name], abs=1e-12), name
    assert type(got[name]) is float
  assert (got['k_pr'], got['k_dc'], got['num_real'], got['num_fake']) == (k_pr, k_dc, 60, 45)
  np.testing.assert_allclose(prdc.knn_radii(real, k_pr), ref['radii'], rtol=1e-12)
  assert prdc.precision_recall(real, fake, k_pr) == {
      'precision': got['precision'], 'recall': got['recall'], 'k': k_pr, 'num_real': 60,
      'num_fake': 45}
  assert prdc.density_coverage(real, fake, k_dc) == {
      'density': got['density'], 'coverage': got['coverage'], 'k': k_dc, 'num_real': 60,
      'num_fake': 45}


def test_ties_on_a_lattice_count_as_inside_like_the_brute_force():
  # Integer points: many pairs lie exactly on a ball's boundary, where d <= radius counts.
  rng = np.random.default_rng(1)
  real = rng.integers(0, 6, (40, 2)).astype(np.float64)
  fake = rng.integers(0, 8, (30, 2)).astype(np.float64)
  ref = brute_force(real, fake)
  got = prdc.prdc(real, fake)
  for name in ('precision', 'recall', 'density', 'coverage'):
    assert got[name] == pytest.approx(ref[name], abs=1e-12), name


def test_identical_sets_give_one_and_density_k_plus_one_over_k(monkeypatch):
  # X = Y in general position: each X_i's closed ball B(X_i, NND_k) holds X_i itself and
  # its k nearest neighbours (the k-th on the boundary), so density = N (k + 1) / (k N).
  x = np.random.default_rng(2).normal(size=(200, 16))
  expected = {'precision': 1.0, 'recall': 1.0, 'density': 6 / 5, 'coverage': 1.0}
  assert {k: prdc.prdc(x, x)[k] for k in expected} == expected
  assert prdc.density_coverage(x, x, k=3)['density'] == 4 / 3
  # The same bits when the screening runs in 7-row chunks and far from the origin.
  monkeypatch.setattr(prdc, 'CHUNK_ROWS', 7)
  far = x + 1e6
  assert {k: prdc.prdc(far, far.copy())[k] for k in expected} == expected
  assert {k: prdc.prdc(x.astype(np.float32), x.astype(np.float32))[k]
          for k in expected} == expected


def test_two_samples_of_one_distribution_density_near_one_coverage_near_its_expectation():
  rng = np.random.default_rng(3)
  real, fake = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
  got = prdc.prdc(real, fake)
  # E[density] = 1; E[coverage] = 1 - prod_{i<k} (N - 1 - i) / (N + M - 1 - i) (Naeem et
  # al. 2020), 0.969 here. Over 20 seeds the standard deviations were 0.023 and 0.0035:
  # the tolerances are 3.5 and 4 of them.
  n = m = 2000
  expected_coverage = 1 - np.prod([(n - 1 - i) / (n + m - 1 - i) for i in range(5)])
  assert got['density'] == pytest.approx(1.0, abs=0.08)
  assert got['coverage'] == pytest.approx(expected_coverage, abs=0.015)
  assert 0.5 < got['precision'] < 1 and 0.5 < got['recall'] < 1


def test_disjoint_far_apart_sets_give_zero():
  rng = np.random.default_rng(4)
  got = prdc.prdc(rng.normal(size=(50, 4)), rng.normal(size=(40, 4)) + 100.0)
  assert [got[k] for k in ('precision', 'recall', 'density', 'coverage')] == [0, 0, 0, 0]


def test_collapsed_generator_at_one_real_point():
  # Real: 20 points at 0..19 on a line. Fake: 10 copies of the real point at 0.
  #   precision 1: every fake is X_0, inside X_0's own ball.
  #   recall 1/20: the fake balls have radius 0 (3 other copies at distance 0), so only X_0.
  #   coverage, k=5: X_i's ball holds 0 iff |i| <= NND_5(X_i). NND_5 of 0, 1, 2, 3 is
  #     5, 4, 3, 3 (neighbours of 3 at 1, 1, 2, 2, 3, 3), so X_0..X_3 are covered (X_3 with
  #     0 exactly on its boundary); NND_5(X_4) = 3 < 4 and beyond it only grows apart: 4/20.
  #   density: every fake lies in those 4 balls: 10 * 4 / (5 * 10) = 0.8.
  real = line(20)
  fake = np.repeat(real[:1], 10, axis=0)
  got = prdc.prdc(real, fake)
  assert (got['precision'], got['recall'], got['coverage'], got['density']) == \
      (1.0, 1 / 20, 4 / 20, 0.8)
  np.testing.assert_array_equal(prdc.knn_radii(real, 5)[:6], [5, 4, 3, 3, 3, 3])
  np.testing.assert_array_equal(prdc.knn_radii(fake, 3), np.zeros(10))
  ref = brute_force(real, fake)
  assert (ref['precision'], ref['recall'], ref['coverage'], ref['density']) == \
      (1.0, 1 / 20, 4 / 20, 0.8)


def test_chunked_screening_equals_one_block(monkeypatch):
  rng = np.random.default_rng(5)
  real, fake = rng.normal(size=(300, 6)), rng.normal(size=(250, 6)) * 0.8
  whole = prdc.prdc(real, fake)
  radii = prdc.knn_radii(real, 4)
  monkeypatch.setattr(prdc, 'CHUNK_ROWS', 13)
  monkeypatch.setattr(prdc, 'CHUNK_ELEMENTS', 300 * 5)   # 5 rows per block
  assert prdc.prdc(real, fake) == whole
  np.testing.assert_array_equal(prdc.knn_radii(real, 4), radii)


@pytest.mark.parametrize('real,fake,kwargs,match', [
    (np.zeros(10), np.zeros((10, 2)), {}, r'real features must be a 2-D array .* shape \(10,\)'),
    (np.zeros((10, 2)), np.zeros((10, 3)), {}, 'real features are 2-d but fake features are 3-d'),
    (np.zeros((5, 2)), np.zeros((10, 2)), {}, 'real features have 5 rows, but the k=5 nearest'),
    (np.zeros((10, 2)), np.zeros((3, 2)), {}, 'fake features have 3 rows, but the k=3 nearest'),
    (np.full((10, 2), np.nan), np.zeros((10, 2)), {}, r'real features contain NaN or Inf \(10'),
    (np.zeros((10, 2)), np.zeros((10, 2)), {'k_pr': 0}, 'k_pr must be a positive integer'),
    (np.zeros((10, 2)), np.zeros((10, 2)), {'k_pr': None, 'k_dc': None}, 'both None'),
])
def test_bad_inputs_are_config_errors(real, fake, kwargs, match):
  with pytest.raises(ConfigError, match=match):
    prdc.prdc(real, fake, **kwargs)


def test_density_coverage_needs_no_generated_neighbours():
  real = line(8)
  assert prdc.density_coverage(real, real[:1], k=5)['coverage'] == 4 / 8
  with pytest.raises(ConfigError, match='features have 3 rows, but the k=3 nearest'):
    prdc.knn_radii(real[:3], 3)
