"""Style-transfer losses as pure functions of feature maps (NHWC).

Two conventions, chosen by ``form``:

* ``'sum'`` -- Gatys, Ecker & Bethge (2016), eqs. 1, 3-5: content loss
  ``1/2 sum (F - P)^2``; per-layer style loss ``1/(4 N^2 M^2) sum (G - A)^2`` with the
  unnormalised Gram matrix ``G = F^T F`` (N channels, M positions).
* ``'mean'`` -- the authors' reference implementation and most ports: Gram matrix
  divided by M, mean squared errors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FORMS = ('sum', 'mean')


@jax.custom_vjp
def _gram_BMC(f_BMC: jax.Array) -> jax.Array:
  return jnp.einsum('bmc,bmd->bcd', f_BMC, f_BMC, precision=jax.lax.Precision.HIGHEST)


def _gram_fwd(f_BMC):
  return _gram_BMC(f_BMC), f_BMC


def _gram_bwd(f_BMC, g_BCC):
  # d(F^T F) = F (g + g^T): one (M, C) x (C, C) matmul. Autodiff's transpose of the
  # einsum emits two dots with transposed operands, slower on XLA:CPU
  # (bench/bench_gatys.py measures it).
  sym = g_BCC + jnp.swapaxes(g_BCC, 1, 2)
  return (jnp.einsum('bmc,bcd->bmd', f_BMC, sym, precision=jax.lax.Precision.HIGHEST),)


_gram_BMC.defvjp(_gram_fwd, _gram_bwd)


def gram(f_BHWC: jax.Array, normalize: bool = True) -> jax.Array:
  """Gram matrices ``F^T F`` per batch element, divided by H*W if ``normalize``."""
  b, h, w, c = f_BHWC.shape
  g_BCC = _gram_BMC(f_BHWC.reshape(b, h * w, c))
  return g_BCC / (h * w) if normalize else g_BCC


def content_loss(f_BHWC: jax.Array, target_BHWC: jax.Array, form: str) -> jax.Array:
  """Squared feature difference between ``f_BHWC`` and the target (same shape):
  ``0.5 * sum`` for ``form='sum'`` (the paper), else the mean ('mean').
  """
  diff = f_BHWC - target_BHWC
  if form == 'sum':
    return 0.5 * jnp.sum(diff ** 2)
  return jnp.mean(diff ** 2)


def style_layer_loss(f_BHWC: jax.Array, target_gram_BCC: jax.Array, form: str) -> jax.Array:
  """Style loss of one layer against a normalised target Gram matrix ``A / M_style``.

  Targets are normalised by their own number of positions so that a style image of
  another size than the output still matches in scale. With equal sizes the sum form
  is exactly the paper's ``1/(4 N^2 M^2) sum (G - A)^2``: dividing both Gram matrices
  by M turns it into ``1/(4 N^2) sum (G/M - A/M)^2``, which also keeps the float32
  squares small.
  """
  c = f_BHWC.shape[-1]
  diff = gram(f_BHWC) - target_gram_BCC
  if form == 'sum':
    return jnp.sum(diff ** 2) / (4.0 * c * c)
  return jnp.mean(diff ** 2)


def guided_gram(f_BHWC: jax.Array, guides_RHW: jax.Array) -> jax.Array:
  """Guided Gram matrices (Gatys et al. 2017, eq. 6): ``(T_r F)^T (T_r F) / sum T_r^2``.

  One (C, C) matrix per guidance channel r (batch 1). Dividing by the guide's mass, not
  by H*W, makes a region's matrix a per-position average, so a small region of the
  output and a whole style image compare at the same scale.
  """
  guided_RHWC = f_BHWC[0][None] * guides_RHW[..., None]
  r, h, w, c = guided_RHWC.shape
  mass_R = jnp.sum(guides_RHW ** 2, axis=(1, 2))
  return _gram_BMC(guided_RHWC.reshape(r, h * w, c)) / mass_R[:, None, None]


def guided_style_layer_loss(f_BHWC: jax.Array, guides_RHW: jax.Array,
                            target_grams_RCC: jax.Array, form: str) -> jax.Array:
  """Spatially controlled style loss: the sum over regions of ``style_layer_loss``
  between the output's guided Gram matrix and that region's target."""
  c = f_BHWC.shape[-1]
  diff = guided_gram(f_BHWC, guides_RHW) - target_grams_RCC
  if form == 'sum':
    return jnp.sum(diff ** 2) / (4.0 * c * c)
  return jnp.sum(jnp.mean(diff ** 2, axis=(1, 2)))


def tv_loss(x_BHWC: jax.Array, form: str) -> jax.Array:
  """Total variation: squared differences of vertical and horizontal neighbours."""
  dy = x_BHWC[:, 1:, :, :] - x_BHWC[:, :-1, :, :]
  dx = x_BHWC[:, :, 1:, :] - x_BHWC[:, :, :-1, :]
  if form == 'sum':
    return jnp.sum(dy ** 2) + jnp.sum(dx ** 2)
  return jnp.mean(dy ** 2) + jnp.mean(dx ** 2)
