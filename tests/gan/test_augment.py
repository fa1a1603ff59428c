"""DiffAugment against a plain-numpy transcription of the paper's ops, given the same draws."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.gan import augment


def _images(b=6, h=16, w=12, c=3, seed=0):
  # numpy draws: XLA:CPU takes seconds to compile JAX's random draws of 4-D shapes.
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (b, h, w, c)), jnp.float32)


def _keys(b, seed=1):
  return jax.random.split(jax.random.key(seed), b)  # typed keys, one per example


# ---------------------------------------------------------------- numpy reference, per example

def _np_brightness(x, u):
  return x + (u - 0.5)


def _np_saturation(x, u):
  out = np.empty_like(x)
  for i in range(x.shape[0]):
    for j in range(x.shape[1]):
      m = sum(x[i, j, k] for k in range(x.shape[2])) / x.shape[2]
      for k in range(x.shape[2]):
        out[i, j, k] = (x[i, j, k] - m) * (2 * u) + m
  return out


def _np_contrast(x, u):
  m = x.sum() / x.size
  return (x - m) * (u + 0.5) + m


def _np_translation(x, shift):
  dy, dx = int(shift[0]), int(shift[1])
  h, w, _ = x.shape
  out = np.zeros_like(x)
  for i in range(h):
    for j in range(w):
      if 0 <= i + dy < h and 0 <= j + dx < w:
        out[i, j] = x[i + dy, j + dx]
  return out


def _np_cutout(x, centre):
  # The paper's code: side = int(0.5 * size + 0.5); zero rows/columns
  # clamp(centre - side // 2 + t, 0, size - 1) for t < side.
  h, w, _ = x.shape
  sh, sw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
  out = x.copy()
  for t in range(sh):
    for s in range(sw):
      r = min(max(int(centre[0]) - sh // 2 + t, 0), h - 1)
      c = min(max(int(centre[1]) - sw // 2 + s, 0), w - 1)
      out[r, c] = 0
  return out


_NP_OPS = {'brightness': _np_brightness, 'saturation': _np_saturation,
           'contrast': _np_contrast, 'translation': _np_translation, 'cutout': _np_cutout}


def _np_diffaugment(x, params, ops):
  x = np.array(x, np.float64)
  out = []
  for b in range(x.shape[0]):
    xb = x[b]
    for op in ops:
      xb = _NP_OPS[op](xb, np.asarray(params[op][b], np.float64))
    out.append(xb)
  return np.stack(out)


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize('policy,ops', [
    ('color', ('brightness', 'saturation', 'contrast')),
    ('translation,cutout', ('translation', 'cutout')),
    ('color,translation,cutout',
     ('brightness', 'saturation', 'contrast', 'translation', 'cutout')),
    ('cutout,color', ('cutout', 'brightness', 'saturation', 'contrast')),
])
def test_each_policy_matches_a_numpy_transcription(policy, ops):
  x, keys = _images(), _keys(6)
  params = augment.draw_params(keys, policy, x.shape)
  assert tuple(params) == ops
  got = augment.diffaugment(x, keys, policy)
  assert got.shape == x.shape and got.dtype == x.dtype
  np.testing.assert_allclose(got, _np_diffaugment(x, params, ops), atol=1e-5)


def test_draws_cover_the_papers_ranges():
  # 16 x 12 images: translation s = int(0.125 * 16 + 0.5) = 2 rows, int(1.5 + 0.5) = 2 columns;
  # cutout side 8 x 6 (both even), centres in 0..16 and 0..12.
  keys = _keys(2000)
  p = augment.draw_params(keys, 'color,translation,cutout', (2000, 16, 12, 3))
  shift = np.asarray(p['translation'])
  assert set(shift[:, 0]) == set(range(-2, 3)) and set(shift[:, 1]) == set(range(-2, 3))
  centre = np.asarray(p['cutout'])
  assert set(centre[:, 0]) == set(range(0, 17)) and set(centre[:, 1]) == set(range(0, 13))
  for op in ('brightness', 'saturation', 'contrast'):
    u = np.asarray(p[op])
    assert u.dtype == np.float32 and 0 <= u.min() < 0.01 and 0.99 < u.max() < 1
  # The ops draw independently (distinct salts), not the same u three times.
  assert not np.allclose(p['brightness'], p['saturation'])
  # An odd cutout side (14 px: int(7 + 0.5) = 7): the paper draws the centre from 0..H-1
  # (randint(0, H + (1 - side % 2))).
  p = augment.draw_params(keys, 'translation,cutout', (2000, 14, 14, 1))
  assert set(np.asarray(p['cutout'])[:, 0]) == set(range(0, 14))
  assert set(np.asarray(p['translation'])[:, 0]) == set(range(-2, 3))  # int(1.75 + 0.5)


def test_cutout_zeroes_a_half_side_square_inside_the_image():
  x = jnp.ones((6, 16, 12, 3))
  out = np.asarray(augment.diffaugment(x, _keys(6, seed=3), 'cutout'))
  zeros = (out[..., 0] == 0).sum(axis=(1, 2))
  assert np.all(out == out[..., :1])  # the same square in every channel
  assert zeros.max() <= 8 * 6 and zeros.min() >= 4 * 3  # clipped at worst to a corner


def test_an_example_does_not_depend_on_the_rest_of_the_batch():
  x, keys = _images(), _keys(6)
  policy = 'color,translation,cutout'
  whole = augment.diffaugment(x, keys, policy)
  halves = jnp.concatenate([augment.diffaugment(x[:3], keys[:3], policy),
                            augment.diffaugment(x[3:], keys[3:], policy)])
  # Equal up to float rounding: XLA may order the colour means differently per batch shape.
  np.testing.assert_allclose(whole, halves, atol=1e-6)
  # Reordering the batch (with its keys) reorders the result.
  perm = np.array([4, 0, 5, 2, 1, 3])
  np.testing.assert_allclose(augment.diffaugment(x[perm], keys[perm], policy), whole[perm],
                             atol=1e-6)


def test_the_empty_policy_is_the_identity():
  x = _images()
  assert augment.diffaugment(x, _keys(6), '') is x
  assert augment.check_policy('') == ()
  points = jnp.zeros((4, 2))
  assert augment.diffaugment(points, _keys(4), '') is points


def test_gradients_under_jit_are_the_transpose_of_the_numpy_forward():
  # Given its draws every op is affine in x (shift, scale about a mean, move, mask), so
  # the gradient of sum(out * ct) at any x is sum((forward(e_k) - forward(0)) * ct) for
  # each unit image e_k: checked for example 1 against the numpy forward.
  x, keys = _images(), _keys(6)
  policy = 'color,translation,cutout'
  ct = jnp.asarray(np.random.default_rng(7).standard_normal(x.shape), jnp.float32)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(augment.diffaugment(x, keys, policy) * ct)))(x)
  assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).sum()) > 0
  p = {op: v[1:2] for op, v in augment.draw_params(keys, policy, x.shape).items()}
  ops, ct1 = tuple(p), np.asarray(ct[1:2], np.float64)
  _, h, w, c = x.shape
  offset = np.sum(_np_diffaugment(np.zeros((1, h, w, c)), p, ops) * ct1)
  expected = np.zeros((h, w, c))
  for i in range(h):
    for j in range(w):
      for k in range(c):
        e = np.zeros((1, h, w, c))
        e[0, i, j, k] = 1
        expected[i, j, k] = np.sum(_np_diffaugment(e, p, ops) * ct1) - offset
  np.testing.assert_allclose(grad[1], expected, atol=1e-4)


def test_bfloat16_images_keep_their_dtype():
  x = _images().astype(jnp.bfloat16)
  out = augment.diffaugment(x, _keys(6), 'color,translation,cutout')
  assert out.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(out.astype(jnp.float32))))


def test_policy_errors_are_config_errors():
  assert augment.check_policy('color, translation,cutout') == ('color', 'translation', 'cutout')
  assert set(augment.POLICIES) == {'color', 'translation', 'cutout'}
  with pytest.raises(ConfigError, match="unknown DiffAugment policy 'colour'"):
    augment.check_policy('colour,translation')
  with pytest.raises(ConfigError, match='names a policy twice'):
    augment.check_policy('cutout,cutout')
  with pytest.raises(ConfigError, match='DiffAugment needs images'):
    augment.diffaugment(jnp.zeros((4, 2)), _keys(4), 'translation')
  with pytest.raises(ConfigError, match='one key per example'):
    augment.diffaugment(jnp.zeros((4, 16, 12, 3)), _keys(3), 'color')
