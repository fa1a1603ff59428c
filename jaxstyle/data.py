"""Input pipelines: TFDS by name, local image folders, MNIST idx files, 2D mixtures.

Every source is random access (``len``, ``get(indices)``), so the order of examples is a
pure function of (seed, position): ``Loader.batch(step)`` returns this process's rows of
global batch ``step`` and needs no iterator state. A resumed run asks for the same
step and gets the same examples; a run on P processes reads the same global batches as
a run on one (process p takes rows [p B/P, (p+1) B/P) of each).

Order: epoch e visits the examples in ``default_rng([seed, e]).permutation(N)``;
global position t of the stream is example ``perm_{t // N}[t % N]``.

Scaling follows each paper: ``[0, 1]`` for Goodfellow et al. 2014, ``[-1, 1]`` for DCGAN.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from jaxstyle.errors import ConfigError, ImageError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')


# --------------------------------------------------------------------------- sources

class ArraySource:
  """Examples already in memory (uint8 images or float points)."""

  def __init__(self, array: np.ndarray, name: str):
    self.array, self.name = array, name

  def __len__(self):
    return len(self.array)

  def get(self, indices):
    return self.array[np.asarray(indices)]


def mixture_centers(kind: str) -> tuple[np.ndarray, float]:
  """Means and std of PacGAN's 2D mixtures.

  ring8: 8 modes at (cos 2 pi i / 8, sin 2 pi i / 8), std 0.01 (i = 0..7; a linspace
  including 2 pi would give only 7 distinct modes). grid25: {-4,-2,0,2,4}^2, std 0.05.
  """
  if kind == 'ring8':
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], 1), 0.01
  if kind == 'grid25':
    g = np.arange(-4, 5, 2, dtype=np.float64)
    return np.stack(np.meshgrid(g, g, indexing='ij'), -1).reshape(-1, 2), 0.05
  raise ConfigError(f"unknown mixture {kind!r}; choose 'ring8' or 'grid25'")


def sample_mixture(kind: str, n: int, seed: int) -> np.ndarray:
  centers, std = mixture_centers(kind)
  rng = np.random.default_rng(seed)
  modes = rng.integers(len(centers), size=n)
  return (centers[modes] + std * rng.normal(size=(n, 2))).astype(np.float32)


def read_idx(path: str | Path) -> np.ndarray:
  """An MNIST idx file (optionally gzipped) -> uint8 array."""
  path = Path(path)
  try:
    with (gzip.open(path, 'rb') if path.suffix == '.gz' else open(path, 'rb')) as f:
      raw = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', raw[:4])
    dims = struct.unpack(f'>{ndim}I', raw[4:4 + 4 * ndim])
    if zero != 0 or dtype != 0x08:
      raise ValueError('not an unsigned-byte idx file')
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)
  except FileNotFoundError:
    raise ImageError(f'{path}: no such file; point data.path at the directory holding '
                     f'the MNIST idx files') from None
  except (OSError, EOFError, ValueError, struct.error) as e:
    raise ImageError(f'{path}: not a readable idx file ({e}); re-download it') from None


def mnist_idx(directory: str | Path, split: str = 'test') -> ArraySource:
  """MNIST from the original idx files ({train,t10k}-images-idx3-ubyte[.gz])."""
  prefix = {'test': 't10k', 'train': 'train'}.get(split)
  if prefix is None:
    raise ConfigError(f"unknown MNIST split {split!r}; choose 'train' or 'test'")
  directory = Path(directory)
  candidates = [directory / f'{prefix}-images-idx3-ubyte{s}' for s in ('.gz', '')]
  path = next((p for p in candidates if p.exists()), candidates[0])
  images = read_idx(path)
  if images.ndim != 3 or images.shape[1:] != (28, 28):
    raise ImageError(f'{path}: expected N x 28 x 28 images, found shape {images.shape}')
  return ArraySource(images[..., None], f'mnist_idx:{split}')


class ImageFolder:
  """Every image under ``root`` (recursively, sorted), decoded with Pillow on access."""

  def __init__(self, root: str | Path, channels: int = 3):
    self.root, self.channels = Path(root), channels
    if not self.root.is_dir():
      raise ImageError(f'image folder {self.root} does not exist; set data.path to a '
                       f'directory of images')
    self.paths = sorted(p for p in self.root.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not self.paths:
      raise ImageError(f'image folder {self.root} holds no images ({", ".join(IMAGE_SUFFIXES)})')
    self.name = f'folder:{self.root}'

  def __len__(self):
    return len(self.paths)

  def _decode(self, path):
    try:
      with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert('L' if self.channels == 1 else 'RGB'))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
      raise ImageError(f'{path}: cannot decode image ({e}); remove or replace it') from None

  def get(self, indices):
    return [self._decode(self.paths[i]) for i in np.asarray(indices)]

  def check_all(self, on_bad: str = 'stop', min_side: int = 0) -> list[str]:
    """Decodes every image once, before training, and checks its size.

    ``on_bad='stop'`` raises ImageError naming the first corrupt (or, with ``min_side``,
    too small) file; ``'skip'`` drops such files from the folder and returns one line
    per dropped file. A folder left empty is an error either way.
    """
    if on_bad not in ('stop', 'skip'):
      raise ConfigError(f"data.on_bad_image must be 'stop' or 'skip', got {on_bad!r}")
    kept, dropped = [], []
    for path in self.paths:
      try:
        im = self._decode(path)
        if min(im.shape[:2]) < min_side:
          raise ImageError(f'{path} is {im.shape[0]}x{im.shape[1]} px, smaller than the '
                           f'{min_side} px crop; set data.resize (e.g. {min_side}) to scale '
                           f'images up, or remove it')
        kept.append(path)
      except ImageError as e:
        if on_bad == 'stop':
          raise ImageError(f'{e} (or set data.on_bad_image=skip)') from None
        dropped.append(str(e))
    if not kept:
      raise ImageError(f'image folder {self.root}: none of its {len(self.paths)} images is '
                       f'usable ({dropped[0]})')
    self.paths = kept
    return dropped


class TFDSSource:
  """A TFDS dataset read through ``tfds.data_source`` (array_record, no TensorFlow)."""

  def __init__(self, name: str, split: str, data_dir: str | None = None,
               image_key: str = 'image', download: bool = False):
    import tensorflow_datasets as tfds
    try:
      builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
      raise ConfigError(f'unknown TFDS dataset {name!r}; see '
                        f'https://www.tensorflow.org/datasets/catalog') from None
    if not builder.is_prepared() and not download:
      raise ConfigError(
          f'TFDS dataset {name!r} is not prepared in {builder.data_dir}; prepare it once '
          f'on a machine with network and TensorFlow: pip install tensorflow && '
          f'python -c "import tensorflow_datasets as tfds; tfds.builder({name!r}, '
          f"file_format='array_record').download_and_prepare()\" (then copy it or set "
          f'data.tfds_data_dir), or pass data.download=True')
    try:
      self.source = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    except (ValueError, KeyError) as e:
      splits = ', '.join(builder.info.splits.keys()) if builder.is_prepared() else '?'
      raise ConfigError(f'TFDS {name!r} has no split {split!r} ({e}); its splits: '
                        f'{splits}') from None
    self.image_key, self.name = image_key, f'tfds:{name}:{split}'

  def __len__(self):
    return len(self.source)

  def get(self, indices):
    return [np.asarray(self.source[int(i)][self.image_key]) for i in np.asarray(indices)]


# --------------------------------------------------------------------------- transforms

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
    if self._pool is None:
      return self._load(step)
    future = self._pending.pop(step, None) or self._pool.submit(self._load, step)
    self._pending = {step + 1: self._pool.submit(self._load, step + 1)}
    return future.result()

  def close(self):
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- from config

def source_from_config(c):
  """The source named by ``config.data`` (kind: mixture | mnist_idx | folder | tfds)."""
  kind = c.kind
  if kind == 'mixture':
    return ArraySource(sample_mixture(c.name, int(c.num_train), int(c.seed)), f'mixture:{c.name}')
  if kind == 'mnist_idx':
    return mnist_idx(c.path, c.split)
  if kind == 'folder':
    folder = ImageFolder(c.path, channels=int(c.channels))
    if c.get('verify_images', True):
      # A corrupt file stops the run before it starts, not at step 10k (or is skipped).
      min_side = 0 if c.get('resize') else int(c.get('crop', 0))
      folder.dropped = folder.check_all(c.get('on_bad_image', 'stop'), min_side)
    return folder
  if kind == 'tfds':
    return TFDSSource(c.name, c.split, c.get('tfds_data_dir') or None,
                      download=bool(c.get('download', False)))
  raise ConfigError(f"data.kind must be one of mixture, mnist_idx, folder, tfds; got {kind!r}")


def transform_from_config(c):
  if c.kind == 'mixture':
    return lambda points: np.asarray(points, np.float32)
  return lambda images: preprocess(images, int(c.image_size), int(c.channels), c.range,
                                   c.get('center_crop') or None)


def data_shape(c) -> tuple:
  return (2,) if c.kind == 'mixture' else (int(c.image_size), int(c.image_size), int(c.channels))


class Subset:
  """Examples ``start:stop`` of another source (e.g. a train/validation/test split)."""

  def __init__(self, source, start: int, stop: int):
    self.source, self.start, self.stop = source, start, stop
    self.name = f'{source.name}[{start}:{stop}]'

  def __len__(self):
    return self.stop - self.start

  def get(self, indices):
    return self.source.get(np.asarray(indices) + self.start)


def subset(source, spec: str) -> Subset:
  """``'start:stop'`` (Python slice syntax, no step) of ``source``."""
  try:
    start_s, stop_s = str(spec).split(':')
    start = int(start_s) if start_s else 0
    stop = int(stop_s) if stop_s else len(source)
  except ValueError:
    raise ConfigError(f"data subset must look like 'start:stop', got {spec!r}") from None
  if not 0 <= start < stop <= len(source):
    raise ConfigError(f'subset {spec!r} is outside {source.name}, which has {len(source)} '
                      f'examples')
  return Subset(source, start, stop)
