"""The run directory every task writes, through this module only.

  config.json     the resolved config                        (``begin``)
  run_info.json   seed, code, packages, hardware, command, status, wall time, results
                  (``run_info.collect``, then ``begin`` and ``finish``)
  metrics.jsonl   ``{"step": s, <scalars>...}`` rows         (``MetricWriter``)
  tensorboard/    the same scalars as TensorBoard events     (optional)

``status`` in run_info.json is one of ``STATUSES``: ``running`` while the run is alive,
then ``completed``, ``interrupted`` (Ctrl-C / SIGTERM; training runs resume), ``non_finite``
(a loss became NaN/inf; the last good state is kept) or ``failed`` (any other error).
Only process 0 writes. Every JSON file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import jax

from jaxstyle.errors import OutputError
from jaxstyle.io import fileio


def check_writable(directory: str | Path) -> None:
  """Fails early, creating nothing, if ``directory`` could not be created or written."""
  path = Path(directory).expanduser().absolute()
  probe = path
  while not probe.exists():
    if probe.parent == probe:
      break
    probe = probe.parent
  if probe.exists() and (not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK)):
    raise OutputError(f'workdir {path}: {probe} is not a writable directory; '
                      f'choose another --workdir')


def write_json(path: str | Path, obj) -> None:
  """Atomic JSON write (temporary file + rename)."""
  text = json.dumps(obj, indent=2, sort_keys=True, default=str) + '\n'
  try:
    fileio.atomic_write(path, lambda f: f.write(text.encode()))
  except OSError as e:
    raise OutputError(f'cannot write {path}: {e.strerror}') from None


def _plain(value):
  if isinstance(value, (int, str)):
    return value
  value = float(value)
  return value if math.isfinite(value) else str(value)


class MetricWriter:
  """Appends ``{"step": s, **scalars}`` lines to ``metrics.jsonl``; optional TensorBoard."""

  def __init__(self, workdir: str | Path, tensorboard: bool = False):
    self.path = Path(workdir) / 'metrics.jsonl'
    self._file = open(self.path, 'a', buffering=1)
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # optional dependency: pip install tensorboardX
      self._tb = SummaryWriter(str(Path(workdir) / 'tensorboard'))

  def write_scalars(self, step: int, scalars: dict) -> None:
    """Appends one row for ``step`` (non-finite values are written as strings, e.g.
    'nan'); also to TensorBoard when enabled, skipping string values."""
    row = {'step': int(step)}
    row.update({k: _plain(v) for k, v in scalars.items()})
    self._file.write(json.dumps(row) + '\n')
    if self._tb is not None:
      for k, v in scalars.items():
        if not isinstance(v, str):
          self._tb.add_scalar(k, float(v), step)

  def close(self) -> None:
    """Closes metrics.jsonl and the TensorBoard writer (``finish`` calls it)."""
    self._file.close()
    if self._tb is not None:
      self._tb.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


STATUSES = ('running', 'completed', 'interrupted', 'non_finite', 'failed')


def begin(workdir: str | Path, config_dict: dict, info: dict, **extra) -> None:
  """Creates the run directory and writes config.json and run_info.json (status running)."""
  workdir = Path(workdir)
  info.update(status='running', **extra)
  workdir.mkdir(parents=True, exist_ok=True)
  if jax.process_index() != 0:
    return
  write_json(workdir / 'config.json', config_dict)
  write_json(workdir / 'run_info.json', info)


def finish(workdir: str | Path, info: dict, status: str, start_time: float,
           writer: MetricWriter | None = None, **extra) -> dict:
  """Records the final ``status`` (one of ``STATUSES``), wall time and ``extra`` entries
  in run_info.json and closes the metric writer; returns ``info``."""
  if status not in STATUSES:
    raise ValueError(f'status must be one of {STATUSES}, got {status!r}')
  info.update(status=status, wall_time_s=round(time.time() - start_time, 2), **extra)
  if jax.process_index() == 0:
    if writer is not None:
      writer.close()
    write_json(Path(workdir) / 'run_info.json', info)
  return info


@contextlib.contextmanager
def status_on_error(workdir: str | Path, info: dict, start_time: float,
                    writer: MetricWriter | None = None):
  """Records ``interrupted`` (Ctrl-C / SIGTERM) or ``failed`` in run_info.json, then
  re-raises, if the block raises: for a task's work after its training loop (final
  evaluation, model export), so that no run directory is left saying ``running``."""
  try:
    yield
  except KeyboardInterrupt:
    finish(workdir, info, 'interrupted', start_time, writer)
    raise
  except BaseException:
    finish(workdir, info, 'failed', start_time, writer)
    raise
