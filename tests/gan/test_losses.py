"""GAN losses against the papers' formulas written out in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.gan import losses

R = np.array([2.0, -1.0, 0.5, 3.0])
F = np.array([-0.5, 1.5, 0.0, -2.0])
sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731


@pytest.mark.parametrize('kind,d_ref,g_ref', [
    ('minimax', -np.mean(np.log(sig(R))) - np.mean(np.log(1 - sig(F))), np.mean(np.log(1 - sig(F)))),
    ('non_saturating', -np.mean(np.log(sig(R))) - np.mean(np.log(1 - sig(F))), -np.mean(np.log(sig(F)))),
    ('hinge', np.mean(np.maximum(0, 1 - R)) + np.mean(np.maximum(0, 1 + F)), -np.mean(F)),
    ('least_squares', 0.5 * np.mean((R - 1) ** 2) + 0.5 * np.mean(F ** 2), 0.5 * np.mean((F - 1) ** 2)),
    ('wasserstein', np.mean(F) - np.mean(R), -np.mean(F)),
])
def test_losses_match_their_definitions(kind, d_ref, g_ref):
  np.testing.assert_allclose(losses.d_loss(kind, jnp.asarray(R), jnp.asarray(F)), d_ref, rtol=1e-6)
  np.testing.assert_allclose(losses.g_loss(kind, jnp.asarray(F)), g_ref, rtol=1e-6)


def test_minimax_generator_saturates_where_non_saturating_does_not():
  f = jnp.array([-8.0])  # D confidently rejects the fakes
  g_mm = jax.grad(lambda f: losses.g_loss('minimax', f))(f)
  g_ns = jax.grad(lambda f: losses.g_loss('non_saturating', f))(f)
  assert abs(float(g_mm[0])) < 1e-3 < abs(float(g_ns[0]))


def test_gradient_penalty_of_a_linear_critic():
  # critic(x) = x . w has gradient w everywhere: penalty (|w| - 1)^2.
  w = jnp.array([[3.0], [4.0]])
  critic = lambda x: (x @ w)[:, 0]  # noqa: E731
  real, fake = jnp.ones((5, 2)), jnp.zeros((5, 2))
  gp = losses.gradient_penalty(critic, real, fake, jnp.linspace(0, 1, 5))
  np.testing.assert_allclose(gp, 16.0, rtol=1e-5)


def test_gradient_penalty_per_example_for_a_quadratic_critic():
  # critic(x) = |x|^2 / 2 -> gradient x_hat; check against the interpolates directly.
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
  eps = rng.uniform(size=6)
  x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
  ref = np.mean((np.linalg.norm(x_hat, axis=1) - 1) ** 2)
  gp = losses.gradient_penalty(lambda x: 0.5 * jnp.sum(x * x, 1), jnp.asarray(real),
                               jnp.asarray(fake), jnp.asarray(eps))
  np.testing.assert_allclose(gp, ref, rtol=1e-5)


def test_unknown_loss_is_a_config_error():
  with pytest.raises(ConfigError, match='unknown loss'):
    losses.d_loss('bce', jnp.zeros(1), jnp.zeros(1))
