"""Losses against direct float64 numpy transcriptions of the papers' formulas."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.perceptual import losses


def _feats(seed, shape=(1, 6, 5, 4)):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_gram_matches_hand_computation():
  f = _feats(0)
  F = f[0].reshape(-1, 4).astype(np.float64)  # M x N
  expected = np.zeros((4, 4))
  for i in range(4):
    for j in range(4):
      expected[i, j] = sum(F[m, i] * F[m, j] for m in range(F.shape[0]))
  np.testing.assert_allclose(losses.gram(f, normalize=False)[0], expected, rtol=1e-5)
  np.testing.assert_allclose(losses.gram(f)[0], expected / 30, rtol=1e-5)


def test_content_loss_forms():
  f, p = _feats(1), _feats(2)
  d = f.astype(np.float64) - p
  np.testing.assert_allclose(losses.content_loss(f, p, 'sum'), 0.5 * np.sum(d ** 2), rtol=1e-5)
  np.testing.assert_allclose(losses.content_loss(f, p, 'mean'), np.mean(d ** 2), rtol=1e-5)


def test_style_loss_sum_form_is_paper_equation_4():
  """E_l = 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2 with unnormalised Gram matrices."""
  f, s = _feats(3), _feats(4)
  n, m = 4, 30
  F = f[0].reshape(m, n).astype(np.float64)
  S = s[0].reshape(m, n).astype(np.float64)
  G, A = F.T @ F, S.T @ S
  expected = np.sum((G - A) ** 2) / (4 * n ** 2 * m ** 2)
  target = losses.gram(s)  # targets are normalised by their own M
  np.testing.assert_allclose(losses.style_layer_loss(f, target, 'sum'), expected, rtol=1e-5)


def test_style_loss_mean_form_is_reference_implementation():
  """The authors' code: MSE between G/(HW) matrices."""
  f, s = _feats(5), _feats(6)
  F = f[0].reshape(30, 4).astype(np.float64)
  S = s[0].reshape(30, 4).astype(np.float64)
  expected = np.mean((F.T @ F / 30 - S.T @ S / 30) ** 2)
  np.testing.assert_allclose(losses.style_layer_loss(f, losses.gram(s), 'mean'), expected,
                             rtol=1e-5)


def test_style_loss_is_scale_consistent_across_image_sizes():
  """A target from a 2x2-tiled copy of the features equals the original's target."""
  f = _feats(7)
  tiled = np.tile(f, (1, 2, 2, 1))
  np.testing.assert_allclose(losses.gram(tiled), losses.gram(f), rtol=1e-5)
  assert float(losses.style_layer_loss(f, losses.gram(tiled), 'sum')) == pytest.approx(0, abs=1e-6)


def test_tv_loss_matches_loops():
  x = _feats(8, (1, 4, 3, 2)).astype(np.float64)
  total = 0.0
  for i in range(4):
    for j in range(3):
      if i + 1 < 4:
        total += np.sum((x[0, i + 1, j] - x[0, i, j]) ** 2)
      if j + 1 < 3:
        total += np.sum((x[0, i, j + 1] - x[0, i, j]) ** 2)
  np.testing.assert_allclose(losses.tv_loss(jnp.asarray(x, jnp.float32), 'sum'), total, rtol=1e-5)
  assert float(losses.tv_loss(jnp.ones((1, 5, 5, 3)), 'mean')) == 0.0


def test_gram_gradient_matches_autodiff_of_the_plain_product():
  import jax
  f = jnp.asarray(_feats(9, (2, 5, 4, 3)))
  w = jnp.asarray(_feats(10, (2, 3, 3)))
  ours = jax.grad(lambda f: jnp.sum(losses.gram(f) * w))(f)
  plain = jax.grad(lambda f: jnp.sum(jnp.einsum('bhwc,bhwd->bcd', f, f) / 20 * w))(f)
  np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-6)
