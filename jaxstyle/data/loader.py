"""The deterministic ``Loader``: batch ``step`` of this process, decoded by a worker pool.

``Loader.batch(step)`` returns this process's rows of global batch ``step`` and needs
no iterator state: a resumed run asks for the same step and gets the same examples; a
run on P processes reads the same global batches as a run on one (process p takes rows
[p B/P, (p+1) B/P) of each).

Order: epoch e visits the examples in ``default_rng([seed, e]).permutation(N)``;
global position t of the stream is example ``perm_{t // N}[t % N]``.

Workers. The rows of a step are split into contiguous chunks, one per worker thread,
each read from the source and transformed (decode, crop, resize) on its own; the chunks
are joined in row order. Transforms are per example and random crops depend on the
stream position only, so the batch is the same for any number of workers. Threads are
enough: Pillow releases the GIL while it decodes and resizes, and numpy while it copies.
The next ``prefetch`` steps are queued behind the current one, so decoding overlaps the
device's work.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from jaxstyle.errors import ConfigError


def default_workers() -> int:
  """Decode threads when ``data.workers`` is 0: one per core, at most 8 (beyond that a
  folder of JPEGs is limited by the file system, and a host of a TPU pod has many cores
  that the step's own host work also needs)."""
  return min(8, os.cpu_count() or 1)


def read_labeled(source, indices):
  """``(examples, labels)`` at ``indices``: from one read of each record where the source
  has ``get_labeled`` (TFDS, Subset), else ``get`` then ``labels``."""
  if hasattr(source, 'get_labeled'):
    return source.get_labeled(indices)
  return source.get(indices), source.labels(indices)


class Loader:
  """Deterministic batches: ``batch(step)`` -> this process's (sub_steps, rows, ...).

  Args:
    source: a random-access source (``len``, ``get(indices)``).
    global_batch: rows of one (sub-)step over all processes.
    sub_steps: sub-batches per step (the GAN's discriminator steps).
    seed: the order seed (``data.order_seed``).
    transform: examples -> array; ``transform(examples, positions)`` when it has
      ``needs_positions`` (random crops).
    process_index, process_count: this process's rows of each global batch.
    prefetch: steps loaded ahead of the one asked for (0: load on demand).
    workers: threads that decode and transform the rows of a step in parallel.
    labels: also return the rows' int32 class labels (``source.labels``): ``batch``
      then gives ``(examples, labels)``.
  """

  def __init__(self, source, global_batch: int, sub_steps: int, seed: int, transform,
               process_index: int = 0, process_count: int = 1, prefetch: int = 2,
               workers: int = 1, labels: bool = False):
    if len(source) == 0:
      raise ConfigError(f'dataset {source.name} is empty')
    if labels and not getattr(source, 'num_classes', 0):
      source.labels(np.zeros(0, np.int64))  # raises the source's "no labels" error
    self.labels = bool(labels)
    if global_batch % process_count:
      raise ConfigError(f'the global batch ({global_batch}) must be a multiple of the '
                        f'process count ({process_count})')
    if int(workers) < 1 or int(prefetch) < 0:
      raise ConfigError(f'data.workers must be >= 1 (or 0: automatic) and data.prefetch '
                        f'>= 0, got {workers} and {prefetch}')
    self.source, self.global_batch, self.sub_steps = source, global_batch, sub_steps
    self.seed, self.transform = seed, transform
    self.rows = global_batch // process_count
    self.first_row = process_index * self.rows
    self.workers, self.prefetch = int(workers), int(prefetch)
    self._perms: dict[int, np.ndarray] = {}
    self._pool = concurrent.futures.ThreadPoolExecutor(
        self.workers, thread_name_prefix='jaxstyle-data') \
        if self.workers > 1 or self.prefetch > 0 else None
    self._pending: dict[int, list[concurrent.futures.Future]] = {}

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

  def _load_rows(self, indices: np.ndarray, positions: np.ndarray):
    labels = None
    if self.labels:
      examples, labels = read_labeled(self.source, indices)
    else:
      examples = self.source.get(indices)
    if labels is not None:
      labels = np.asarray(labels, np.int32)
      k = self.source.num_classes
      bad = (labels < 0) | (labels >= k)
      if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(f'{self.source.name}: example {int(indices[i])} has label '
                          f'{int(labels[i])}, outside the {k} classes 0-{k - 1}; fix the '
                          f'labels or the class list')
    if getattr(self.transform, 'needs_positions', False):
      x = np.asarray(self.transform(examples, positions))
    else:
      x = np.asarray(self.transform(examples))
    return x if labels is None else (x, labels)

  def _chunks(self, step: int):
    # Indices are computed here, on the calling thread: the permutation cache is not
    # shared with the workers.
    indices, positions = self.indices(step).reshape(-1), self.positions(step).reshape(-1)
    parts = np.array_split(np.arange(len(indices)), min(self.workers, len(indices)))
    return [(indices[p], positions[p]) for p in parts]

  def _submit(self, step: int) -> list[concurrent.futures.Future]:
    return [self._pool.submit(self._load_rows, i, p) for i, p in self._chunks(step)]

  def _assemble(self, parts: list, labelled: bool | None = None):
    if self.labels if labelled is None else labelled:
      return tuple(self._assemble([p[i] for p in parts], False) for i in range(2))
    flat = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return flat.reshape(self.sub_steps, self.rows, *flat.shape[1:])

  def batch(self, step: int) -> np.ndarray:
    """This process's rows of global step ``step``: the transformed examples,
    shaped (sub_steps, global_batch / process_count, *example_shape), and with
    ``labels`` their labels (sub_steps, global_batch / process_count) as a pair.

    Queues steps step + 1 ... step + ``prefetch`` behind this one, so calling with
    consecutive steps overlaps decoding with training; any step may be asked for. An
    error while loading a row (an unreadable image) is raised here, by the step that
    needs the row.
    """
    if self._pool is None:
      return self._assemble([self._load_rows(i, p) for i, p in self._chunks(step)])
    futures = self._pending.pop(step, None) or self._submit(step)
    ahead = range(step + 1, step + 1 + self.prefetch)
    for s in [s for s in self._pending if s not in ahead]:  # a jump (resume, evaluation)
      for f in self._pending.pop(s):
        f.cancel()
    for s in ahead:
      if s not in self._pending:
        self._pending[s] = self._submit(s)
    return self._assemble([f.result() for f in futures])

  def close(self):
    """Stops the workers (queued loads are cancelled); call once training ends."""
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)
    self._pending = {}


def loader_options(c) -> dict:
  """``Loader`` keyword arguments from ``config.data``: ``workers`` (``data.workers``,
  0 or absent: ``default_workers()``) and ``prefetch`` (``data.prefetch``, default 2).
  """
  workers = int(c.get('workers', 0)) or default_workers()
  return dict(workers=workers, prefetch=int(c.get('prefetch', 2)))
