"""GAN objectives on discriminator logits, and the WGAN-GP gradient penalty.

Each loss is ``(d_loss(real_logits, fake_logits), g_loss(fake_logits))`` as means over
the batch; the generator minimises ``g_loss``, the discriminator ``d_loss``.

  minimax          Goodfellow et al. 2014, eq. 1: D maximises log D(x) + log(1 - D(G(z))),
                   G minimises log(1 - D(G(z))) (saturates when D wins)
  non_saturating   the same D; G maximises log D(G(z)) (the paper's practical variant,
                   and what its code ran)
  hinge            Lim & Ye 2017 / Miyato et al. 2018
  least_squares    Mao et al. 2017, a = 0, b = c = 1
  wasserstein      Arjovsky et al. 2017; with ``gp_weight`` > 0 the penalty of
                   Gulrajani et al. 2017 (WGAN-GP, lambda = 10)

``class_loss`` is the AC-GAN auxiliary classifier's cross-entropy (Odena et al. 2017).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError

LOSSES = ('minimax', 'non_saturating', 'hinge', 'least_squares', 'wasserstein')


def d_loss(kind: str, real, fake):
  """The discriminator's loss of kind ``kind`` (one of ``LOSSES``) from its logits on real
  and generated batches (any matching shapes); a scalar to minimise. Raises ConfigError
  for an unknown ``kind``.
  """
  if kind in ('minimax', 'non_saturating'):
    # -log sigmoid(r) - log(1 - sigmoid(f)), written with softplus for stability.
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
  if kind == 'hinge':
    return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
  if kind == 'least_squares':
    return 0.5 * (jnp.mean((real - 1.0) ** 2) + jnp.mean(fake ** 2))
  if kind == 'wasserstein':
    return jnp.mean(fake) - jnp.mean(real)
  raise ConfigError(f'unknown loss {kind!r}; choose one of {", ".join(LOSSES)}')


def g_loss(kind: str, fake):
  """The generator's loss of kind ``kind`` from the discriminator's logits on generated
  samples; a scalar to minimise. Raises ConfigError for an unknown ``kind``.
  """
  if kind == 'minimax':
    return -jnp.mean(jax.nn.softplus(fake))          # log(1 - sigmoid(f))
  if kind == 'non_saturating':
    return jnp.mean(jax.nn.softplus(-fake))          # -log sigmoid(f)
  if kind in ('hinge', 'wasserstein'):
    return -jnp.mean(fake)
  if kind == 'least_squares':
    return 0.5 * jnp.mean((fake - 1.0) ** 2)
  raise ConfigError(f'unknown loss {kind!r}; choose one of {", ".join(LOSSES)}')


def gradient_penalty(critic, real, fake, eps):
  """E[(||grad_x critic(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) G(z), per example.

  ``critic`` maps a batch to per-example scores with no cross-example interaction (no
  BatchNorm), so the gradient of their sum holds each example's own gradient.
  """
  eps = eps.reshape(eps.shape[0], *([1] * (real.ndim - 1)))
  x_hat = eps * real + (1.0 - eps) * fake
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def class_loss(class_logits, labels):
  """Mean softmax cross-entropy of K-way ``class_logits`` (B, K) against int ``labels``
  (B,): the AC-GAN auxiliary loss (Odena et al. 2017, L_C), in float32."""
  logp = jax.nn.log_softmax(class_logits.astype(jnp.float32), axis=-1)
  return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=-1))
