"""Colour control of style transfer (Gatys et al. 2017, Sec. 5): luminance-only transfer in
YIQ and linear colour matching of the style image to the content's statistics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# ITU-R BT.601 YIQ, the colour space of Gatys et al. (2017) luminance-only transfer.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def rgb_to_yiq(img_HWC):
  """RGB (..., 3) -> BT.601 YIQ (..., 3): Y in [0, 1] for RGB in [0, 1], I and Q signed."""
  return jnp.asarray(img_HWC) @ _RGB_TO_YIQ.T


def yiq_to_rgb(img_HWC):
  """BT.601 YIQ (..., 3) -> RGB (..., 3), the exact inverse of ``rgb_to_yiq`` (not clipped)."""
  return jnp.asarray(img_HWC) @ _YIQ_TO_RGB.T


def luminance(img_HWC) -> jax.Array:
  """The Y channel of RGB (..., 3): (...), in [0, 1] for RGB in [0, 1]."""
  return rgb_to_yiq(img_HWC)[..., 0]


def gray_rgb(y_HW) -> jax.Array:
  """A luminance map (H, W) as gray RGB (H, W, 3), Y copied to every channel."""
  return jnp.repeat(jnp.asarray(y_HW)[..., None], 3, axis=-1)


def match_luminance(style_HWC, content_HWC) -> jax.Array:
  """Style luminance as gray RGB, its mean and std matched to the content's (Gatys 2017)."""
  ys, yc = luminance(style_HWC), luminance(content_HWC)
  y = (ys - ys.mean()) / (ys.std() + 1e-8) * yc.std() + yc.mean()
  return gray_rgb(y)


def restore_colors(stylized_HWC, content_HWC) -> jax.Array:
  """Luminance of ``stylized`` with the chrominance (I, Q) of ``content``."""
  yiq = rgb_to_yiq(content_HWC).at[..., 0].set(luminance(stylized_HWC))
  return jnp.clip(yiq_to_rgb(yiq), 0.0, 1.0)


def _sym_sqrt(cov, inverse=False):
  vals, vecs = jnp.linalg.eigh(cov)
  vals = jnp.maximum(vals, 1e-8)
  power = -0.5 if inverse else 0.5
  return (vecs * vals ** power) @ vecs.T


def match_color(style_HWC, content_HWC) -> jax.Array:
  """Linear colour transfer: the style's RGB mean and covariance made the content's.

  ``x' = Cc^1/2 Cs^-1/2 (x - mu_s) + mu_c`` with symmetric matrix square roots, the
  'image analogies' variant of Gatys et al. (2017), Sec. 5.
  """
  s = jnp.asarray(style_HWC).reshape(-1, 3)
  c = jnp.asarray(content_HWC).reshape(-1, 3)
  mu_s, mu_c = s.mean(0), c.mean(0)
  cov_s = jnp.cov(s, rowvar=False) + 1e-5 * jnp.eye(3)
  cov_c = jnp.cov(c, rowvar=False) + 1e-5 * jnp.eye(3)
  a = _sym_sqrt(cov_c) @ _sym_sqrt(cov_s, inverse=True)
  out = (s - mu_s) @ a.T + mu_c
  return jnp.clip(out.reshape(jnp.shape(style_HWC)), 0.0, 1.0)
