"""Atomic file writes: a reader sees the old file or the complete new one, never a part."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
  """Calls ``write(f)`` on a temporary file beside ``path``, then renames it into place.

  The file gets the usual permissions (0666 minus the umask), not mkstemp's 0600.
  On any error the temporary file is removed and the error propagates.
  """
  path = Path(path)
  fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)
  return path
