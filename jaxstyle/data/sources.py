"""Data sources: TFDS by name, local image folders, MNIST idx files, 2D mixtures.

Every source is random access (``len``, ``get(indices)``), so the order of examples is a
pure function of (seed, position) and needs no iterator state (see ``loader``).
"""

from __future__ import annotations

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
    """The examples at ``indices`` (any integer array-like), as one array."""
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
  """``n`` points, float32 (n, 2), from PacGAN's ``kind`` mixture ('ring8' or
  'grid25'; see ``mixture_centers``): a uniformly chosen mode plus Gaussian noise of its std.
  Deterministic in ``seed``; raises ConfigError for an unknown ``kind``.
  """
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
    """Decoded uint8 images at ``indices``, a list of (H, W, 3) arrays
    ((H, W) if ``channels == 1``); sizes vary. Raises ImageError for an undecodable file.
    """
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
    """The ``image_key`` feature (uint8 (H, W, C)) of the examples at
    ``indices``, as a list of arrays.
    """
    return [np.asarray(self.source[int(i)][self.image_key]) for i in np.asarray(indices)]


class Subset:
  """Examples ``start:stop`` of another source (e.g. a train/validation/test split)."""

  def __init__(self, source, start: int, stop: int):
    self.source, self.start, self.stop = source, start, stop
    self.name = f'{source.name}[{start}:{stop}]'

  def __len__(self):
    return self.stop - self.start

  def get(self, indices):
    """Examples at ``indices`` counted from ``start`` (index 0 is ``source[start]``)."""
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
