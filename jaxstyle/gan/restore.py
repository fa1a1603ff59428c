"""Reopening a GAN run directory: its saved config and one of its checkpoints.

``jaxstyle evaluate`` and ``jaxstyle sample`` both start from a run directory; this is the
one place that checks it is a GAN run and restores a checkpoint into the trainer the run
was made with (the checkpoint's fingerprint must match the saved config).
"""

from __future__ import annotations

import json
from pathlib import Path

from jaxstyle.errors import ConfigError
from jaxstyle.runtime import checkpoint, parallel


def read_run(workdir: str | Path, command: str) -> tuple[dict, dict]:
  """(config.json, run_info.json or {}) of the GAN run in ``workdir``, as saved. Raises
  ConfigError naming ``command`` for a directory that is not a GAN run."""
  workdir = Path(workdir)
  if not (workdir / 'config.json').exists():
    raise ConfigError(f'{workdir} has no config.json: not a run directory; give the --workdir '
                      f'of a GAN run')
  saved = json.loads((workdir / 'config.json').read_text())
  if saved.get('task') != 'gan':
    raise ConfigError(f'{workdir} is a {saved.get("task")!r} run; {command} takes GAN runs')
  info_path = workdir / 'run_info.json'
  info = json.loads(info_path.read_text()) if info_path.exists() else {}
  return saved, info


def restore(workdir: str | Path, saved: dict, trainer, seed: int, shape, step: int | None = None):
  """Restores checkpoint ``step`` (default: the latest) of ``workdir`` into
  ``trainer.init(seed, shape)``. Returns (host-local state, step). Raises ConfigError when
  the run has no checkpoint or none at ``step``."""
  workdir = Path(workdir)
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints', 1)
  try:
    if ckpt.latest_step() is None:
      raise ConfigError(f'{workdir}/checkpoints holds no checkpoint; train the run first')
    step = ckpt.latest_step() if step is None else int(step)
    if step not in ckpt.manager.all_steps():
      raise ConfigError(f'no checkpoint at step {step}; saved steps: {ckpt.manager.all_steps()}')
    state, _ = ckpt.restore(trainer.init(seed, shape), checkpoint.fingerprint(saved), step)
  finally:
    ckpt.close()
  return parallel.host_local(state), step
