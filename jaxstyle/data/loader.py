"""Batches: decoding transforms, random crops and the deterministic ``Loader``.

``Loader.batch(step)`` returns this process's rows of global batch ``step`` and needs
no iterator state: a resumed run asks for the same step and gets the same examples; a
run on P processes reads the same global batches as a run on one (process p takes rows
[p B/P, (p+1) B/P) of each).

Order: epoch e visits the examples in ``default_rng([seed, e]).permutation(N)``;
global position t of the stream is example ``perm_{t // N}[t % N]``.

Scaling follows each paper: ``[0, 1]`` for Goodfellow et al. 2014, ``[-1, 1]`` for DCGAN.
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
from PIL import Image

from jaxstyle.errors import ConfigError, ImageError


def preprocess(images, size: int | None, channels: int, value_range: str,
               center_crop: int | None = None) -> np.ndarray:
  """uint8 images (list or array, HW or HWC) -> float32 (N, size, size, channels)."""
  out = []
  for im in images:
    im = np.asarray(im)
    if im.ndim == 2:
      im = im[..., None]
    if im.shape[-1] != channels:
      im = np.repeat(im, channels, -1) if im.shape[-1] == 1 else \
          np.asarray(Image.fromarray(im[..., :3]).convert('L'))[..., None]
    if center_crop:
      h, w = im.shape[:2]
      c = min(center_crop, h, w)
      im = im[(h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c]
    if size and im.shape[:2] != (size, size):
      h, w = im.shape[:2]
      s = min(h, w)  # centre square, then resize (antialiased)
      im = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
      pil = Image.fromarray(im[..., 0] if channels == 1 else im)
      im = np.asarray(pil.resize((size, size), Image.BICUBIC))
      im = im[..., None] if im.ndim == 2 else im
    out.append(im)
  x = np.stack(out).astype(np.float32) / 255.0
  if value_range == '[-1,1]':
    return x * 2.0 - 1.0
  if value_range == '[0,1]':
    return x
  raise ConfigError(f"data.range must be '[0,1]' or '[-1,1]', got {value_range!r}")


class RandomCrops:
  """Square random crops; the crop of an example is a pure function of (seed, position).

  ``position`` is the example's index in the global stream (see ``Loader``), so crops do
  not depend on the number of processes and a resumed run sees the same ones. With
  ``resize`` the shorter side is first scaled to ``resize`` (pytorch/examples: 256, AdaIN:
  512); without it an image smaller than the crop is an error.
  """
  needs_positions = True

  def __init__(self, crop: int, resize: int = 0, seed: int = 0):
    if crop < 1 or resize < 0 or (resize and resize < crop):
      raise ConfigError(f'data.crop ({crop}) must be >= 1 and data.resize ({resize}) 0 or '
                        f'>= the crop')
    self.crop, self.resize, self.seed = crop, resize, seed

  def _one(self, im, position: int) -> np.ndarray:
    im = np.asarray(im)
    if im.ndim == 2:
      im = im[..., None]
    if im.shape[-1] == 1:
      im = np.repeat(im, 3, -1)
    im = im[..., :3]
    h, w = im.shape[:2]
    if self.resize and min(h, w) != self.resize:
      s = self.resize / min(h, w)
      h, w = max(self.resize, round(h * s)), max(self.resize, round(w * s))
      im = np.asarray(Image.fromarray(im).resize((w, h), Image.BICUBIC))
    if min(h, w) < self.crop:
      raise ImageError(f'example {position % 10**9} of the stream is {h}x{w} px, smaller '
                       f'than data.crop={self.crop}; set data.resize >= {self.crop}')
    rng = np.random.default_rng([self.seed, position])
    y, x = rng.integers(h - self.crop + 1), rng.integers(w - self.crop + 1)
    return im[y:y + self.crop, x:x + self.crop]

  def __call__(self, images, positions) -> np.ndarray:
    """uint8 images -> float32 RGB [0, 1], (N, crop, crop, 3)."""
    crops = [self._one(im, int(p)) for im, p in zip(images, positions)]
    return np.stack(crops).astype(np.float32) / 255.0


# --------------------------------------------------------------------------- loader

class Loader:
  """Deterministic batches: ``batch(step)`` -> this process's (sub_steps, rows, ...)."""

  def __init__(self, source, global_batch: int, sub_steps: int, seed: int, transform,
               process_index: int = 0, process_count: int = 1, prefetch: bool = True):
    if len(source) == 0:
      raise ConfigError(f'dataset {source.name} is empty')
    if global_batch % process_count:
      raise ConfigError(f'the global batch ({global_batch}) must be a multiple of the '
                        f'process count ({process_count})')
    self.source, self.global_batch, self.sub_steps = source, global_batch, sub_steps
    self.seed, self.transform = seed, transform
    self.rows = global_batch // process_count
    self.first_row = process_index * self.rows
    self._perms: dict[int, np.ndarray] = {}
    self._pool = concurrent.futures.ThreadPoolExecutor(1) if prefetch else None
    self._pending: dict[int, concurrent.futures.Future] = {}

  def _perm(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      self._perms = {k: v for k, v in self._perms.items() if k >= epoch - 1}
      self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(len(self.source))
    return self._perms[epoch]

  def positions(self, step: int) -> np.ndarray:
    """Global stream positions of this process's rows of step ``step``, (sub_steps, rows)."""
    per_step = self.global_batch * self.sub_steps
    k = np.arange(self.sub_steps)[:, None]
    return step * per_step + k * self.global_batch + self.first_row + np.arange(self.rows)

  def indices(self, step: int) -> np.ndarray:
    """Example indices of this process's rows of global step ``step``."""
    n = len(self.source)
    positions = self.positions(step)
    out = np.empty(positions.shape, np.int64)
    for epoch in np.unique(positions // n):
      sel = positions // n == epoch
      out[sel] = self._perm(int(epoch))[positions[sel] % n]
    return out

  def _load(self, step: int) -> np.ndarray:
    idx = self.indices(step)
    examples = self.source.get(idx.reshape(-1))
    if getattr(self.transform, 'needs_positions', False):
      flat = self.transform(examples, self.positions(step).reshape(-1))
    else:
      flat = self.transform(examples)
    return flat.reshape(*idx.shape, *flat.shape[1:])

  def batch(self, step: int) -> np.ndarray:
    """This process's rows of global step ``step``: the transformed examples,
    shaped (sub_steps, global_batch / process_count, *example_shape).

    Also starts loading step + 1 in a background thread when ``prefetch`` is on, so calling
    with consecutive steps overlaps decoding with training; any step may be asked for.
    """
    if self._pool is None:
      return self._load(step)
    future = self._pending.pop(step, None) or self._pool.submit(self._load, step)
    self._pending = {step + 1: self._pool.submit(self._load, step + 1)}
    return future.result()

  def close(self):
    """Stops the prefetch thread (pending loads are cancelled); call once training ends."""
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)



def transform_from_config(c):
  """The decoding transform for ``config.data``: float32 points for
  ``kind='mixture'``, else ``preprocess`` to (N, image_size, image_size, channels) in
  ``data.range`` ('[0,1]' or '[-1,1]'), centre-cropped to ``data.center_crop`` first if set.
  """
  if c.kind == 'mixture':
    return lambda points: np.asarray(points, np.float32)
  return lambda images: preprocess(images, int(c.image_size), int(c.channels), c.range,
                                   c.get('center_crop') or None)


def data_shape(c) -> tuple:
  """Shape of one example after the transform: (2,) for 2D mixtures, else
  (image_size, image_size, channels) from ``config.data``.
  """
  return (2,) if c.kind == 'mixture' else (int(c.image_size), int(c.image_size), int(c.channels))
