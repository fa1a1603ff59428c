"""Data sources: TFDS by name, local image folders, MNIST idx files, 2D mixtures.

Every source is random access (``len``, ``get(indices)``), so the order of examples is a
pure function of (seed, position) and needs no iterator state (see ``loader``). ``get``
may be called from several loader threads at once.

Labels. A source that has them says so with ``num_classes`` > 0 and ``class_names``, and
``labels(indices)`` returns their int32 class indices: the MNIST idx label files, TFDS's
``label`` feature, an image folder's class subfolders (``classes=True``) and the 2D
mixtures' mode index. ``labels`` of a source without them raises ConfigError.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import struct
import threading
import warnings
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from jaxstyle.data.loader import loader_options, read_labeled
from jaxstyle.errors import ConfigError, ImageError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')
# Images tried in turn to replace a bad one (data.on_bad_image=skip) before giving up: a
# folder where 64 random draws are all bad is mostly bad.
MAX_SUBSTITUTES = 64
VERIFY_MODES = ('lazy', 'upfront')


# --------------------------------------------------------------------------- sources

def _no_labels(source):
  if getattr(source, 'label_problem', None):
    return ImageError(source.label_problem)
  return ConfigError(f'{source.name} has no class labels; a conditional model '
                     f'(model.conditioning) needs a labelled source: MNIST idx files with '
                     f'their label file, a TFDS dataset with a label feature, an image folder '
                     f'with one subfolder per class (data.kind=folder), or a 2D mixture')


class ArraySource:
  """Examples already in memory (uint8 images or float points), with optional int labels
  (``class_names`` gives their names; default '0', '1', ...)."""

  def __init__(self, array: np.ndarray, name: str, labels: np.ndarray | None = None,
               class_names: list | None = None):
    self.array, self.name = array, name
    self._labels = None if labels is None else np.asarray(labels, np.int32)
    if self._labels is not None and len(self._labels) != len(array):
      raise ConfigError(f'{name}: {len(self._labels)} labels for {len(array)} examples')
    if self._labels is None:
      self.class_names = []
    elif class_names is not None:
      self.class_names = list(class_names)
    else:
      self.class_names = [str(i) for i in range(int(self._labels.max()) + 1)] \
          if len(self._labels) else []
    self.num_classes = len(self.class_names)

  def __len__(self):
    return len(self.array)

  def get(self, indices):
    """The examples at ``indices`` (any integer array-like), as one array."""
    return self.array[np.asarray(indices)]

  def labels(self, indices) -> np.ndarray:
    """The int32 class indices of the examples at ``indices``."""
    if self._labels is None:
      raise _no_labels(self)
    return self._labels[np.asarray(indices)]


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


def sample_mixture(kind: str, n: int, seed: int, return_modes: bool = False):
  """``n`` points, float32 (n, 2), from PacGAN's ``kind`` mixture ('ring8' or
  'grid25'; see ``mixture_centers``): a uniformly chosen mode plus Gaussian noise of its std.
  With ``return_modes`` also the mode index of each point (int32 (n,), the label of a
  conditional model). Deterministic in ``seed``; raises ConfigError for an unknown ``kind``.
  """
  centers, std = mixture_centers(kind)
  rng = np.random.default_rng(seed)
  modes = rng.integers(len(centers), size=n)
  points = (centers[modes] + std * rng.normal(size=(n, 2))).astype(np.float32)
  return (points, modes.astype(np.int32)) if return_modes else points


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
  # Labels when the label file is there (t10k-labels-idx1-ubyte[.gz]); a source without
  # them still trains unconditional models.
  label_paths = [directory / f'{prefix}-labels-idx1-ubyte{s}' for s in ('.gz', '')]
  label_path = next((p for p in label_paths if p.exists()), None)
  labels = problem = None
  if label_path is not None:
    try:
      labels = read_idx(label_path)
      if labels.shape != (len(images),):
        problem = f'{len(labels)} labels for {len(images)} images'
      elif labels.size and labels.max() > 9:
        problem = f'a label {int(labels.max())}, not a digit 0-9'
    except ImageError as e:
      problem = str(e)
  if problem:   # only a run that needs the labels fails (``labels`` raises it)
    labels = None
  source = ArraySource(images[..., None], f'mnist_idx:{split}', labels,
                       [str(d) for d in range(10)] if labels is not None else None)
  if problem:
    source.label_problem = f'{label_path}: {problem}; re-download it'
  return source


class ImageFolder:
  """Every image under ``root`` (recursively, sorted), decoded with Pillow on access.

  An image is checked when it is first decoded (lazily), or for this process's share of
  the folder before training (``verify``): unreadable, or with a side below
  ``min_side``, it is *bad*. ``on_bad='stop'`` raises ImageError naming the file;
  ``'skip'`` warns once and serves a substitute in its place: image
  ``default_rng([seed, i, attempt]).integers(len)`` for attempt 0, 1, ... (the first
  good one), so the folder keeps its length and order, and every process and every
  worker serve the same image for index i. Safe to call from several threads.

  With ``classes=True`` every immediate subfolder of ``root`` is a class (class index =
  position in the sorted subfolder names, as torchvision's ImageFolder) holding its
  images at any depth; an image directly in ``root`` or a class subfolder without images
  is an ImageError. With classes, a bad image's substitute is drawn from the images of
  its own class, so its label stays right.
  """

  def __init__(self, root: str | Path, channels: int = 3, min_side: int = 0,
               on_bad: str = 'stop', seed: int = 0, classes: bool = False):
    if on_bad not in ('stop', 'skip'):
      raise ConfigError(f"data.on_bad_image must be 'stop' or 'skip', got {on_bad!r}")
    self.root, self.channels = Path(root), channels
    self.min_side, self.on_bad, self.seed = int(min_side), on_bad, int(seed)
    if not self.root.is_dir():
      raise ImageError(f'image folder {self.root} does not exist; set data.path to a '
                       f'directory of images')
    images_in = lambda d: sorted(p for p in d.rglob('*')  # noqa: E731
                                 if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    self.class_names, self._labels = [], None
    if classes:
      loose = sorted(p.name for p in self.root.iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
      if loose:
        raise ImageError(f'image folder {self.root} has images outside class subfolders '
                         f'({loose[0]}, ...); a conditional model reads one subfolder per '
                         f'class: move them into their class folder')
      class_dirs = sorted(d for d in self.root.iterdir()
                          if d.is_dir() and not d.name.startswith('.'))   # not .ipynb_checkpoints
      per_class = [images_in(d) for d in class_dirs]
      empty = [d.name for d, paths in zip(class_dirs, per_class) if not paths]
      if empty:
        raise ImageError(f'image folder {self.root}: class subfolder(s) {", ".join(empty)} '
                         f'hold no images; remove them or add images')
      self.class_names = [d.name for d in class_dirs]
      self.paths = [p for paths in per_class for p in paths]
      self._labels = np.concatenate([np.full(len(paths), i, np.int32)
                                     for i, paths in enumerate(per_class)]) \
          if per_class else np.zeros(0, np.int32)
      self._by_class = [np.flatnonzero(self._labels == i) for i in range(len(per_class))]
    else:
      self.paths = images_in(self.root)
    self.num_classes = len(self.class_names)
    if not self.paths:
      raise ImageError(f'image folder {self.root} holds no images ({", ".join(IMAGE_SUFFIXES)})'
                       + ('; a conditional model needs one subfolder per class' if classes
                          else ''))
    self.name = f'folder:{self.root}'
    self.skipped: list[str] = []  # bad images ``verify`` found (with on_bad='skip')
    self._bad: dict[int, str] = {}  # index -> why, so a bad file is decoded only once
    self._lock = threading.Lock()

  def __len__(self):
    return len(self.paths)

  def _decode(self, path):
    try:
      with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert('L' if self.channels == 1 else 'RGB'))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
      raise ImageError(f'{path}: cannot decode image ({e}); remove or replace it') from None

  def _checked(self, i: int) -> np.ndarray:
    """Image ``i`` decoded, or ImageError if it is bad (recorded, warned with 'skip')."""
    why = self._bad.get(i)
    if why is None:
      path = self.paths[i]
      try:
        im = self._decode(path)
        if min(im.shape[:2]) < self.min_side:
          raise ImageError(f'{path} is {im.shape[0]}x{im.shape[1]} px, smaller than the '
                           f'{self.min_side} px crop; set data.resize (e.g. {self.min_side}) '
                           f'to scale images up, or remove it')
        return im
      except ImageError as e:
        why = str(e)
      with self._lock:
        first = i not in self._bad
        self._bad[i] = why
      if first and self.on_bad == 'skip':
        warnings.warn(f'skipping a bad image (data.on_bad_image=skip; a fixed substitute '
                      f'from the folder takes its place): {why}', stacklevel=2)
    raise ImageError(why)

  def _get_one(self, i: int) -> np.ndarray:
    try:
      return self._checked(i)
    except ImageError as e:
      if self.on_bad == 'stop':
        raise ImageError(f'{e}, or set data.on_bad_image=skip (a run it stopped resumes '
                         f'from its last checkpoint when the command is run again)') from None
      first_error = str(e)
    pool = self._by_class[self._labels[i]] if self._labels is not None else None
    for attempt in range(MAX_SUBSTITUTES):
      draw = np.random.default_rng([self.seed, i, attempt]).integers(
          len(self.paths) if pool is None else len(pool))
      j = int(draw if pool is None else pool[draw])
      try:
        return self._checked(j)
      except ImageError:
        continue
    raise ImageError(f'image folder {self.root}: {self.paths[i]} is bad ({first_error}) and '
                     f'so are the {MAX_SUBSTITUTES} images drawn to replace it; check the folder')

  def get(self, indices):
    """Decoded uint8 images at ``indices``, a list of (H, W, 3) arrays
    ((H, W) if ``channels == 1``); sizes vary. A bad image raises ImageError
    (``on_bad='stop'``) or is replaced by its substitute (``'skip'``).
    """
    return [self._get_one(int(i)) for i in np.asarray(indices)]

  def labels(self, indices) -> np.ndarray:
    """The int32 class indices (subfolder order) of the images at ``indices``."""
    if self._labels is None:
      raise _no_labels(self)
    return self._labels[np.asarray(indices)]

  def class_signature(self) -> str:
    """A short hash of the class names and their image counts: equal on every host of a
    run that reads the same folder (``check_same_classes``)."""
    counts = np.bincount(self._labels, minlength=self.num_classes) if self._labels is not None \
        else []
    text = '\n'.join(f'{n}:{int(c)}' for n, c in zip(self.class_names, counts))
    return hashlib.sha256(text.encode()).hexdigest()[:16]

  def verify(self, process_index: int = 0, process_count: int = 1,
             workers: int = 1) -> list[str]:
    """Decodes and size-checks this process's share of the folder (images i with
    i % process_count == process_index) with ``workers`` threads, before training.

    ``on_bad='stop'`` raises ImageError naming the first bad file of the share;
    ``'skip'`` returns one line per bad file (they are served by substitutes). A share
    with no good image is an error either way.
    """
    share = range(process_index, len(self.paths), process_count)

    def why_bad(i):
      try:
        self._checked(i)
        return None
      except ImageError as e:
        return str(e)

    pool = concurrent.futures.ThreadPoolExecutor(max(1, int(workers)))
    try:
      bad = []
      for why in pool.map(why_bad, share):
        if why is not None and self.on_bad == 'stop':
          raise ImageError(f'{why} (or set data.on_bad_image=skip)')
        if why is not None:
          bad.append(why)
    finally:
      pool.shutdown(wait=True, cancel_futures=True)
    if share and len(bad) == len(share):
      raise ImageError(f'image folder {self.root}: none of the {len(share)} images checked '
                       f'here is usable ({bad[0]})')
    self.skipped = bad
    return bad


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
    try:
      names = getattr(builder.info.features['label'], 'names', None)
    except (KeyError, TypeError):
      names = None  # no ClassLabel 'label' feature: an unlabelled dataset
    self.class_names = list(names) if names else []
    self.num_classes = len(self.class_names)

  def __len__(self):
    return len(self.source)

  def labels(self, indices) -> np.ndarray:
    """The ``label`` feature (int32 class indices) of the examples at ``indices``."""
    if not self.num_classes:
      raise _no_labels(self)
    return np.asarray([int(self.source[int(i)]['label']) for i in np.asarray(indices)],
                      np.int32)

  def get_labeled(self, indices):
    """``(get(indices), labels(indices))`` from one read of each record."""
    if not self.num_classes:
      raise _no_labels(self)
    records = [self.source[int(i)] for i in np.asarray(indices)]
    return ([np.asarray(r[self.image_key]) for r in records],
            np.asarray([int(r['label']) for r in records], np.int32))

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
    self.class_names = list(getattr(source, 'class_names', []))
    self.num_classes = len(self.class_names)

  def __len__(self):
    return self.stop - self.start

  def get(self, indices):
    """Examples at ``indices`` counted from ``start`` (index 0 is ``source[start]``)."""
    return self.source.get(np.asarray(indices) + self.start)

  def labels(self, indices) -> np.ndarray:
    """The labels of the examples at ``indices`` counted from ``start``."""
    if not self.num_classes:
      raise _no_labels(self.source)
    return self.source.labels(np.asarray(indices) + self.start)

  def get_labeled(self, indices):
    """``(get(indices), labels(indices))``, one read per record where the wrapped source
    reads that way."""
    if not self.num_classes:
      raise _no_labels(self.source)
    return read_labeled(self.source, np.asarray(indices) + self.start)


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


def verify_mode(value) -> str:
  """``data.verify_images``: 'lazy' (each image checked when first decoded) or 'upfront'
  (this process's share checked before training). True and False, the values of
  configs written before lazy checking existed, mean 'upfront' and 'lazy'.
  """
  if isinstance(value, bool):
    return 'upfront' if value else 'lazy'
  if value not in VERIFY_MODES:
    raise ConfigError(f"data.verify_images must be 'lazy' or 'upfront', got {value!r}")
  return value


def check_same_classes(folder: ImageFolder) -> None:
  """Raises ImageError unless every process of the run sees the same classes with the
  same image counts in its copy of ``folder`` (a collective; a no-op on one process)."""
  if jax.process_count() == 1:
    return
  from jax.experimental import multihost_utils
  mine = np.frombuffer(bytes.fromhex(folder.class_signature()), np.uint8)
  every = np.asarray(multihost_utils.process_allgather(mine)).reshape(jax.process_count(), -1)
  differ = [p for p in range(len(every)) if not np.array_equal(every[p], every[0])]
  if differ:
    raise ImageError(f'image folder {folder.root}: processes {differ} see other class '
                     f'subfolders or image counts than process 0 ({folder.num_classes} classes '
                     f'here); give every host the same copy of the folder')


def mixture_source(name: str, num_train: int, seed: int) -> ArraySource:
  """PacGAN's mixture ``name`` as a source of ``num_train`` points labelled by mode."""
  points, modes = sample_mixture(name, num_train, seed, return_modes=True)
  return ArraySource(points, f'mixture:{name}', modes,
                     [f'mode{i}' for i in range(len(mixture_centers(name)[0]))])


def source_from_config(c, classes: bool = False):
  """The source named by ``config.data`` (kind: mixture | mnist_idx | folder | tfds).

  ``classes``: the run needs labels (a conditional model): an image folder is then read
  as one subfolder per class, checked to be the same on every host.
  """
  kind = c.kind
  if kind == 'mixture':
    return mixture_source(c.name, int(c.num_train), int(c.seed))
  if kind == 'mnist_idx':
    return mnist_idx(c.path, c.split)
  if kind == 'folder':
    # A crop of an image smaller than it is impossible unless the image is scaled first.
    min_side = 0 if c.get('resize') else int(c.get('crop', 0))
    folder = ImageFolder(c.path, int(c.channels), min_side, c.get('on_bad_image', 'stop'),
                         int(c.get('order_seed', 0)), classes=classes)
    if classes:
      check_same_classes(folder)
    if verify_mode(c.get('verify_images', 'lazy')) == 'upfront':
      # Each process checks only its share, with the loader's workers: on a pod of P
      # hosts a folder of N images costs N / (P workers) decodes before step 1, not N.
      folder.verify(jax.process_index(), jax.process_count(), loader_options(c)['workers'])
    return folder
  if kind == 'tfds':
    return TFDSSource(c.name, c.split, c.get('tfds_data_dir') or None,
                      download=bool(c.get('download', False)))
  raise ConfigError(f"data.kind must be one of mixture, mnist_idx, folder, tfds; got {kind!r}")
