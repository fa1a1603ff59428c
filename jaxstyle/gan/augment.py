"""DiffAugment (Zhao, Liu, Lin, Zhu, Han, NeurIPS 2020): differentiable augmentations
applied to every image the discriminator sees, real and generated, in both updates.

A policy is a comma-separated subset of ``POLICIES`` applied in the order written
('' is the identity):

  color        brightness x + (u - 0.5); saturation (x - mean_c) * 2u + mean_c;
               contrast (x - mean_hwc) * (u + 0.5) + mean_hwc; u ~ U(0, 1), one draw
               per op and example (the formulas are for images in [-1, 1], as the
               paper's code)
  translation  an integer shift of t ~ U{-s, ..., s} pixels along each axis,
               s = int(0.125 * side + 0.5), zero fill
  cutout       a square of side int(0.5 * H + 0.5) (and 0.5 * W across) set to zero;
               its centre row o ~ U{0, ..., H - (side % 2)}, rows o - side // 2 ...
               clipped to the image (the paper's offsets)

Every random draw of example ``i`` comes from ``keys[i]`` alone (folded with a fixed salt
per op), so an example's augmentation does not depend on how the batch is split across
devices. Images are (B, H, W, C) in the model's compute dtype; gradients flow to ``x``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError

# Op name -> the salt folded into each example's key; fixed per op so that an op's draws
# do not depend on which other ops the policy holds.
_SALTS = {'brightness': 0, 'saturation': 1, 'contrast': 2, 'translation': 3, 'cutout': 4}

# Policy name -> the ops it applies, in order (the paper's AUGMENT_FNS).
POLICIES = {
    'color': ('brightness', 'saturation', 'contrast'),
    'translation': ('translation',),
    'cutout': ('cutout',),
}

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def check_policy(policy: str) -> tuple:
  """The policy names of ``policy`` ('color,translation,cutout'; '' for none) in order,
  as a tuple. Raises ConfigError for an unknown or repeated name.
  """
  if not isinstance(policy, str):
    raise ConfigError(f'the DiffAugment policy must be a string such as '
                      f"'color,translation,cutout', got {policy!r}")
  names = tuple(p.strip() for p in policy.split(',') if p.strip())
  for name in names:
    if name not in POLICIES:
      raise ConfigError(f'unknown DiffAugment policy {name!r} in {policy!r}; use a '
                        f'comma-separated subset of {",".join(POLICIES)}')
  if len(set(names)) != len(names):
    raise ConfigError(f'the DiffAugment policy {policy!r} names a policy twice; '
                      f'name each of {",".join(POLICIES)} at most once')
  return names


def _ops(policy: str) -> tuple:
  return tuple(op for name in check_policy(policy) for op in POLICIES[name])


def _side(size: int, ratio: float) -> int:
  return int(size * ratio + 0.5)


def _check_images(shape) -> None:
  if len(shape) != 4:
    raise ConfigError(f'DiffAugment needs images (B, H, W, C), got data of shape '
                      f"{tuple(shape)}; set the DiffAugment policy to '' for this data")


def _draw_one(key, op: str, height: int, width: int):
  key = jax.random.fold_in(key, _SALTS[op])
  if op in ('brightness', 'saturation', 'contrast'):
    return jax.random.uniform(key, ())
  # One randint per op, both axes at once: randint compiles slowly on CPU.
  if op == 'translation':
    sy, sx = _side(height, TRANSLATION_RATIO), _side(width, TRANSLATION_RATIO)
    return jax.random.randint(key, (2,), jnp.array([-sy, -sx]), jnp.array([sy + 1, sx + 1]))
  # cutout: the centre (row, column), drawn as the paper's code does.
  cy, cx = _side(height, CUTOUT_RATIO), _side(width, CUTOUT_RATIO)
  return jax.random.randint(key, (2,), jnp.array([0, 0]),
                            jnp.array([height + 1 - cy % 2, width + 1 - cx % 2]))


def draw_params(keys, policy: str, shape) -> dict:
  """The random parameters ``diffaugment`` uses for images of ``shape`` (B, H, W, C),
  one per example from ``keys`` (B,): op name -> array, float32 u (B,) for 'brightness',
  'saturation' and 'contrast'; int32 (B, 2) (dy, dx) shifts for 'translation'; int32
  (B, 2) cutout centres (row, column) for 'cutout'. Only the policy's ops are drawn.
  """
  ops = _ops(policy)
  if not ops:
    return {}
  _check_images(shape)
  drawn = _draw(keys, ops, int(shape[1]), int(shape[2]))
  return {op: drawn[op] for op in ops}  # in policy order (jit returns dicts key-sorted)


# Jitted (and so traced once per shape and policy) because an eager call would dispatch,
# and compile, each small op on its own; inside a jitted train step this is inlined.
@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _draw(keys, ops: tuple, height: int, width: int) -> dict:
  return {op: jax.vmap(lambda k, op=op: _draw_one(k, op, height, width))(keys) for op in ops}


def _translate(x, shift):
  """x (H, W, C) moved so that out[i, j] = x[i + dy, j + dx], zero outside."""
  height, width = x.shape[0], x.shape[1]
  # A gather with a validity mask rather than a one-hot matmul: exact for every dtype and
  # matmul precision (a TPU's default float32 matmul would round the pixels to bf16).
  rows = jnp.arange(height) + shift[0]
  cols = jnp.arange(width) + shift[1]
  valid = (((rows >= 0) & (rows < height))[:, None]
           & ((cols >= 0) & (cols < width))[None, :])
  moved = x[jnp.clip(rows, 0, height - 1)][:, jnp.clip(cols, 0, width - 1)]
  return jnp.where(valid[:, :, None], moved, jnp.zeros((), x.dtype))


def _cutout_mask(centre, height: int, width: int, dtype):
  cy, cx = _side(height, CUTOUT_RATIO), _side(width, CUTOUT_RATIO)
  top, left = centre[0] - cy // 2, centre[1] - cx // 2
  rows, cols = jnp.arange(height), jnp.arange(width)
  inside = (((rows >= top) & (rows < top + cy))[:, None]
            & ((cols >= left) & (cols < left + cx))[None, :])
  return jnp.where(inside, 0, 1).astype(dtype)[:, :, None]


def _apply_one(x, params: dict, ops: tuple):
  """The ops of one example x (H, W, C), in order, with its drawn ``params``."""
  for op in ops:
    p = params[op]
    if op == 'brightness':
      x = x + (p - 0.5).astype(x.dtype)
    elif op == 'saturation':
      mean = jnp.mean(x, axis=-1, keepdims=True)
      x = (x - mean) * (2 * p).astype(x.dtype) + mean
    elif op == 'contrast':
      mean = jnp.mean(x)
      x = (x - mean) * (p + 0.5).astype(x.dtype) + mean
    elif op == 'translation':
      x = _translate(x, p)
    else:
      x = x * _cutout_mask(p, x.shape[0], x.shape[1], x.dtype)
  return x


def diffaugment(x, keys, policy: str):
  """``x`` (B, H, W, C) augmented by ``policy`` with example ``i``'s draws from
  ``keys[i]`` (``keys``: (B,) JAX PRNG keys); differentiable in ``x``, same shape and
  dtype. '' returns ``x`` unchanged. Raises ConfigError for an unknown policy or data
  that are not images.
  """
  ops = _ops(policy)
  if not ops:
    return x
  _check_images(x.shape)
  if keys.shape[:1] != x.shape[:1]:
    raise ConfigError(f'DiffAugment needs one key per example: {x.shape[0]} images but '
                      f'keys of shape {keys.shape}; pass keys of shape ({x.shape[0]},)')
  return _augment(x, keys, ops)


@functools.partial(jax.jit, static_argnums=2)
def _augment(x, keys, ops: tuple):
  params = _draw(keys, ops, x.shape[1], x.shape[2])
  return jax.vmap(lambda xi, pi: _apply_one(xi, pi, ops))(x, params)
