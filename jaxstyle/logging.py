"""Run-directory writers: JSON files written atomically and a JSONL metric log."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from jaxstyle import fileio
from jaxstyle.errors import OutputError


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
    row = {'step': int(step)}
    row.update({k: _plain(v) for k, v in scalars.items()})
    self._file.write(json.dumps(row) + '\n')
    if self._tb is not None:
      for k, v in scalars.items():
        if not isinstance(v, str):
          self._tb.add_scalar(k, float(v), step)

  def close(self) -> None:
    self._file.close()
    if self._tb is not None:
      self._tb.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
