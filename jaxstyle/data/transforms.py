"""Per-example transforms: decoded images -> uint8 batches, and their normalisation.

The loader ships images to the devices as uint8 (a quarter of float32's bytes over PCIe
or the host-to-TPU link) and the step turns them into the model's value range on the
device (``normalizing``). Scaling follows each paper: ``[0, 1]`` for Goodfellow et al.
2014, ``[-1, 1]`` for DCGAN.

Every transform works example by example, so splitting a batch over workers (see
``loader``) does not change a single value.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from jaxstyle.errors import ConfigError, ImageError

VALUE_RANGES = ('[0,1]', '[-1,1]')


def check_range(value_range: str) -> str:
  """``value_range`` if it is '[0,1]' or '[-1,1]', else ConfigError naming data.range."""
  if value_range not in VALUE_RANGES:
    raise ConfigError(f"data.range must be '[0,1]' or '[-1,1]', got {value_range!r}")
  return value_range


def normalize(x_uint8, value_range: str):
  """uint8 pixels -> float32 in ``value_range``, on whatever holds ``x_uint8``.

  A numpy array stays on the host; a jax array (or a tracer inside a jitted step) is
  converted on its device. Both compute ``x / 255`` then ``2 y - 1`` in float32, the
  formula of the host pipeline this replaced.
  """
  check_range(value_range)
  x = x_uint8.astype(np.float32) / np.float32(255.0)
  return x * np.float32(2.0) - np.float32(1.0) if value_range == '[-1,1]' else x


def normalizing(step, value_range: str):
  """``step(state, batch, *consts)`` with a uint8 ``batch`` normalised first, inside the
  (jitted, per-device) step, so the conversion runs on the accelerator.

  Batches of any other dtype pass unchanged: 2D mixture points are float32 already and
  the texture network's rows are placeholders. The dtype is static under tracing, so
  this is a compile-time choice, not a branch in the program. A labelled batch
  ``(examples, labels)`` has its examples normalised and its labels passed on.
  """
  check_range(value_range)

  @functools.wraps(step)
  def step_with_normalized_batch(state, batch, *consts):
    if isinstance(batch, tuple):
      x, labels = batch
      if x.dtype == np.uint8:
        x = normalize(x, value_range)
      return step(state, (x, labels), *consts)
    if batch.dtype == np.uint8:
      batch = normalize(batch, value_range)
    return step(state, batch, *consts)
  return step_with_normalized_batch


def _square_resize(im: np.ndarray, size: int, channels: int) -> np.ndarray:
  """The centre square of ``im`` resized to ``size`` px (bicubic, antialiased)."""
  h, w = im.shape[:2]
  s = min(h, w)
  im = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
  pil = Image.fromarray(im[..., 0] if channels == 1 else im)
  im = np.asarray(pil.resize((size, size), Image.BICUBIC))
  return im[..., None] if im.ndim == 2 else im


def preprocess_uint8(images, size: int | None, channels: int,
                     center_crop: int | None = None) -> np.ndarray:
  """uint8 images (list or array, HW or HWC) -> uint8 (N, size, size, channels):
  channels converted, centre-cropped to ``center_crop`` if set, then the centre square
  resized to ``size`` unless the image has that size already.
  """
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
      im = _square_resize(im, size, channels)
    out.append(im)
  return np.stack(out).astype(np.uint8, copy=False)


def preprocess(images, size: int | None, channels: int, value_range: str,
               center_crop: int | None = None) -> np.ndarray:
  """uint8 images (list or array, HW or HWC) -> float32 (N, size, size, channels) in
  ``value_range``, on the host: ``normalize(preprocess_uint8(...))``.
  """
  check_range(value_range)
  return normalize(preprocess_uint8(images, size, channels, center_crop), value_range)


class RandomCrops:
  """Square random crops; the crop of an example is a pure function of (seed, position).

  ``position`` is the example's index in the global stream (see ``Loader``), so crops do
  not depend on the number of processes or workers, and a resumed run sees the same ones.
  With ``resize`` the shorter side is first scaled to ``resize`` (pytorch/examples: 256,
  AdaIN: 512); without it an image smaller than the crop is an error.
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
    """uint8 images -> uint8 RGB crops (N, crop, crop, 3); ``normalize(x, '[0,1]')``
    gives the [0, 1] floats the feed-forward networks train on.
    """
    return np.stack([self._one(im, int(p)) for im, p in zip(images, positions)])


def loader_transform(c):
  """What the ``Loader`` applies for ``config.data``: float32 points for
  ``kind='mixture'``, else uint8 (N, image_size, image_size, channels) from
  ``preprocess_uint8`` (centre-cropped to ``data.center_crop`` first if set). The step
  normalises the images to ``data.range`` on the device (``normalizing``).
  """
  if c.kind == 'mixture':
    return lambda points: np.asarray(points, np.float32)
  check_range(c.range)
  return lambda images: preprocess_uint8(images, int(c.image_size), int(c.channels),
                                         c.get('center_crop') or None)


def transform_from_config(c):
  """The host-side float32 transform for ``config.data``: float32 points for
  ``kind='mixture'``, else ``preprocess`` to (N, image_size, image_size, channels) in
  ``data.range`` ('[0,1]' or '[-1,1]'), centre-cropped to ``data.center_crop`` first if
  set. For statistics and evaluation on the host; training batches come from
  ``loader_transform`` and are normalised on the device, to the same values.
  """
  if c.kind == 'mixture':
    return loader_transform(c)
  to_uint8 = loader_transform(c)
  return lambda images: normalize(to_uint8(images), c.range)


def data_shape(c) -> tuple:
  """Shape of one example after the transform: (2,) for 2D mixtures, else
  (image_size, image_size, channels) from ``config.data``.
  """
  return (2,) if c.kind == 'mixture' else (int(c.image_size), int(c.image_size), int(c.channels))
