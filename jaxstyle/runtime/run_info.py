"""The reproducibility record every run directory gets (``run_info.json``)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

import jax

PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'tensorflow-datasets',
            'ml-collections', 'numpy', 'pillow', 'h5py', 'jaxstyle')


_CHECKOUT = Path(__file__).resolve().parents[2]   # the folder holding jaxstyle/


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(['git', *args], cwd=_CHECKOUT,
                         capture_output=True, text=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict:
  """{'commit': HEAD's hash, 'dirty': tracked files modified} of the jaxstyle checkout;
  both None when git or the repository is unavailable (an installed package)."""
  top = _git('rev-parse', '--show-toplevel')
  if top is None or Path(top).resolve() != _CHECKOUT:
    # An installed copy (site-packages), perhaps inside some other repository: no commit.
    return {'commit': None, 'dirty': None}
  commit = _git('rev-parse', 'HEAD')
  status = _git('status', '--porcelain', '--untracked-files=no')
  return {'commit': commit, 'dirty': bool(status) if status is not None else None}


# The code that runs is the code that was imported: record the repository state at
# import time, so that commits made while a long job runs do not mislabel its results.
GIT_AT_IMPORT = git_state()


def versions() -> dict:
  """{package: installed version or None} for the packages in ``PACKAGES``."""
  found = {}
  for package in PACKAGES:
    try:
      found[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      found[package] = None
  return found


def collect(seed: int, argv: list[str] | None = None) -> dict:
  """Everything needed to rerun and compare: seed, code, packages, hardware, command."""
  return {
      'seed': seed,
      'git': GIT_AT_IMPORT,
      'packages': versions(),
      'python': sys.version.split()[0],
      'platform': platform.platform(),
      'cpu_count': os.cpu_count(),
      # Cores this process may run on (a sweep worker pinned with --cores-per-worker).
      'cpu_affinity': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
      'devices': [str(d) for d in jax.devices()],
      'device_kind': jax.devices()[0].device_kind,
      'process_count': jax.process_count(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'command': list(sys.argv if argv is None else argv),
      'start_time': datetime.datetime.now(datetime.timezone.utc).isoformat(),
  }
