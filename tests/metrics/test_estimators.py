"""Evaluators against direct computations: Parzen, mixture modes, FID, KID."""

import numpy as np
import pytest
from scipy import linalg
from scipy.special import logsumexp

from jaxstyle import data
from jaxstyle.metrics import frechet, modes, parzen


def test_parzen_log_likelihood_equals_a_direct_computation():
  rng = np.random.default_rng(0)
  mu, x = rng.uniform(size=(300, 12)), rng.uniform(size=(40, 12))
  for sigma in (0.1, 0.35, 1.0):
    d2 = ((x[:, None, :] - mu[None]) ** 2).sum(-1)
    ref = logsumexp(-d2 / (2 * sigma ** 2), axis=1) - np.log(len(mu)) \
        - 12 * np.log(sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(parzen.log_likelihood(x, mu, sigma), ref, rtol=1e-5, atol=1e-4)


def test_parzen_protocol_picks_sigma_on_validation_and_reports_stderr():
  rng = np.random.default_rng(1)
  mu = rng.normal(0, 0.3, size=(500, 5))
  valid, test = rng.normal(0, 0.3, size=(100, 5)), rng.normal(0, 0.3, size=(80, 5))
  out = parzen.evaluate(mu, valid, test)
  scores = {s: np.mean(parzen.log_likelihood(valid, mu, s)) for s in np.logspace(-1, 0, 10)}
  assert out['sigma'] == pytest.approx(max(scores, key=scores.get))
  ll = parzen.log_likelihood(test, mu, out['sigma'])
  assert out['log_likelihood'] == pytest.approx(ll.mean(), rel=1e-6)
  assert out['stderr'] == pytest.approx(ll.std() / np.sqrt(80), rel=1e-6)


def test_ring_has_eight_distinct_modes_and_grid_twenty_five():
  ring, std = data.mixture_centers('ring8')
  assert std == 0.01 and len(np.unique(np.round(ring, 6), axis=0)) == 8
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  np.testing.assert_allclose(ring[1], [np.cos(np.pi / 4), np.sin(np.pi / 4)])
  grid, std = data.mixture_centers('grid25')
  assert std == 0.05 and len(np.unique(grid, axis=0)) == 25
  assert set(grid[:, 0]) == {-4, -2, 0, 2, 4}


def test_mode_metrics_on_constructed_samples():
  centers, std = data.mixture_centers('ring8')
  # 3 samples on mode 0, 1 on mode 2 (2.9 std away), 1 far from all modes, 1 at 3.1 std.
  s = np.array([centers[0], centers[0], centers[0] + [0.01, 0],
                centers[2] + [0.029, 0], [0.0, 0.0], centers[5] + [0, 0.031]])
  out = modes.mode_metrics(s, centers, std)
  assert out['modes'] == 2 and out['counts'][0] == 3 and out['counts'][2] == 1
  assert out['hq'] == pytest.approx(4 / 6)
  p = np.array([0.75, 0.25])
  assert out['reverse_kl'] == pytest.approx(np.sum(p * np.log(p * 8)))


def test_perfect_samples_cover_everything():
  x = data.sample_mixture('grid25', 2500, seed=3)
  out = modes.mode_metrics(x, *data.mixture_centers('grid25'))
  assert out['modes'] == 25 and out['hq'] > 0.99 and out['reverse_kl'] < 0.02


def test_frechet_distance_equals_scipy_sqrtm_formula():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16))
  b = rng.normal(0.3, 1.2, size=(300, 16))
  mu1, mu2 = a.mean(0), b.mean(0)
  c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = linalg.sqrtm(c1 @ c2).real
  ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * covmean)
  assert frechet.fid_from_features(a, b) == pytest.approx(ref, rel=1e-6)
  assert abs(frechet.fid_from_features(a, a)) < 1e-6


def test_kid_equals_the_unbiased_estimator_written_out():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(30, 4)), rng.normal(0.5, 1, size=(30, 4))
  k = lambda a, b: (a @ b / 4 + 1) ** 3  # noqa: E731
  m = 30
  kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  mean, std = frechet.kid_from_features(x, y, num_subsets=3, subset_size=30)
  assert mean == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-9) and std < 1e-12
