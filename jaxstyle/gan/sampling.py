"""Generate from a GAN run's checkpoint: ``jaxstyle sample``.

    jaxstyle sample --workdir RUN [--step N] [--num N] [--class K,...] [--per-class N]
                    [--out samples.png | samples.npz | DIR] [--no-ema] [--seed S]

The run's config.json and run_info.json rebuild its generator (no training data is read:
a CIFAR-10 run samples on a machine without the dataset), the checkpoint of ``--step``
(default: the latest) is restored, and the EMA weights are used when the run kept them
(``--no-ema``: the raw weights).

What is written (every file atomically; the checks run before anything is written):
  NAME.png  one image: a grid of N samples, or for a conditional run a class-by-row grid
            (one row per class asked for, ``per_class`` samples each, the same noise in
            every column); 2D-mixture runs get a scatter plot
  NAME.npz  ``samples`` (N, H, W, C) float32 in [0, 1] (points: (N, 2) as generated),
            ``labels`` (N,) int32 for a conditional run, ``step``, ``ema``
  DIR       one PNG per sample, ``NNNNN.png`` or ``class_K_NNNNN.png`` (a write that fails
            midway leaves the files written before it)

Noise comes from ``--seed`` (default 0) as in ``evaluation.generate``: the same command
gives the same file.
"""

from __future__ import annotations

import io
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxstyle import data
from jaxstyle.errors import ConfigError, OutputError
from jaxstyle.gan import evaluation, restore
from jaxstyle.io import figures, fileio
from jaxstyle.io import images as image_io
from jaxstyle.runtime import determinism


def load_run(workdir: str | Path, step: int | None = None, saved: dict | None = None,
             info: dict | None = None):
  """Rebuilds a GAN run's trainer from its run directory and restores checkpoint ``step``
  (default: the latest). ``saved``/``info``: the run's config.json and run_info.json when
  the caller has read them already. Returns (config, trainer, host_state, step,
  class_names). Raises ConfigError for a directory that is not a GAN run or has no such
  checkpoint."""
  from jaxstyle.gan import task  # the task builds the trainer the checkpoint was made with
  workdir = Path(workdir)
  if saved is None or info is None:
    saved, info = restore.read_run(workdir, 'sample')
  config = ml_collections.ConfigDict(saved)
  class_names = list(info.get('class_names') or [])
  conditional = config.model.get('conditioning', 'none') != 'none'
  if conditional and not class_names:
    raise ConfigError(f'{workdir / "run_info.json"} records no class_names for this '
                      f'conditional run; it was written before training started: resume the '
                      f'run first')
  determinism.apply_config(config)   # as the run was made, before JAX starts
  shape = data.data_shape(config.data)
  trainer = task.build_trainer(config, shape, len(class_names) if conditional else 0)
  state, step = restore.restore(workdir, saved, trainer, int(config.seed), shape, step)
  return config, trainer, state, step, class_names


def parse_classes(spec: str, class_names: list, conditional: bool, workdir) -> np.ndarray:
  """``--class`` ('3', '0,5,9', class names, or 'all') -> class indices. Raises ConfigError
  for an unconditional run or a class outside the run's classes."""
  if not conditional:
    raise ConfigError(f'{workdir} is an unconditional run (model.conditioning=none); --class '
                      f'needs a run trained with model.conditioning=projection or acgan')
  if spec in ('', 'all'):
    return np.arange(len(class_names), dtype=np.int32)
  out = []
  for item in str(spec).split(','):
    item = item.strip()
    if item in class_names:
      out.append(class_names.index(item))
      continue
    try:
      k = int(item)
    except ValueError:
      k = -1
    if not 0 <= k < len(class_names):
      raise ConfigError(f'--class {item!r} is not a class of {workdir}: it has '
                        f'{len(class_names)} classes, 0-{len(class_names) - 1} '
                        f'({", ".join(class_names[:10])}{", ..." if len(class_names) > 10 else ""})')
    out.append(k)
  return np.asarray(out, np.int32)


def _output_kind(out: Path) -> str:
  suffix = out.suffix.lower()
  if suffix == '.npz':
    return 'npz'
  if suffix == '.png':
    return 'png'
  if suffix:
    raise ConfigError(f'--out {out}: write a .png grid, an .npz array file, or a directory '
                      f'(no suffix) of PNGs')
  return 'dir'


def sample_run(workdir: str | Path, out: str | Path, step: int | None = None, num: int = 64,
               classes: str | None = None, per_class: int = 8, use_ema: bool = True,
               seed: int = 0) -> dict:
  """Generates from a run's checkpoint into ``out`` (see the module docstring). Returns a
  summary dict (path, step, num, ema, classes). Every check runs before anything is
  written."""
  out = Path(out)
  kind = _output_kind(out)
  if num < 1 or per_class < 1:
    raise ConfigError(f'--num and --per-class must be >= 1, got {num} and {per_class}')
  if kind == 'dir' and out.exists() and not out.is_dir():
    raise ConfigError(f'--out {out} exists and is not a directory')
  workdir = Path(workdir)
  saved, info = restore.read_run(workdir, 'sample')
  conditional = saved.get('model', {}).get('conditioning', 'none') != 'none'
  if kind == 'dir' and saved.get('data', {}).get('kind') == 'mixture':
    raise ConfigError(f'{workdir} generates 2D points, not images; write --out a .png '
                      f'scatter plot or an .npz file')
  names = info.get('class_names') or []
  labels = columns = None
  if classes is not None or conditional:
    chosen = parse_classes(classes or 'all', names, conditional, workdir)
    labels, columns = np.repeat(chosen, per_class), per_class
    num = len(labels)
  config, trainer, state, step, class_names = load_run(workdir, step, saved, info)
  ema = bool(use_ema and state.ema_params is not None)
  if labels is not None:
    # Row r, column j: class chosen[r] from noise j, the same noise in every row.
    z = trainer.models.sample_noise(jax.random.key(seed), (per_class,))
    z = np.tile(np.asarray(z), (len(labels) // per_class, 1))
    x = np.asarray(trainer.sample_jit(state, z, use_ema=ema, y=labels))
  else:
    x = evaluation.generate(trainer, state, num, seed, use_ema=ema)
  points = config.data.kind == 'mixture'
  unit = x if points else evaluation.to_unit(x, trainer.models.data_range)
  try:
    _write(out, kind, x, unit, labels, columns, step, ema, points, config, workdir)
  except OSError as e:
    raise OutputError(f'cannot write {out}: {e.strerror or e}; choose another --out') from None
  return {'path': str(out), 'step': step, 'num': int(len(x)), 'ema': ema,
          'classes': None if labels is None else
          [class_names[k] for k in dict.fromkeys(labels.tolist())]}


def _write(out, kind, x, unit, labels, columns, step, ema, points, config, workdir):
  if kind == 'npz':
    arrays = dict(samples=unit.astype(np.float32), step=np.int64(step), ema=np.bool_(ema))
    if labels is not None:
      arrays['labels'] = labels.astype(np.int32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    out.parent.mkdir(parents=True, exist_ok=True)
    fileio.atomic_write(out, lambda f: f.write(buffer.getvalue()))
  elif kind == 'png':
    if points:
      centers = data.mixture_centers(config.data.name)[0]
      sheet = figures.scatter(x, centers)
    else:
      sheet = figures.image_grid(unit, (0.0, 1.0), columns=columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    image_io.save(out, sheet)
  else:
    out.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(unit):
      name = f'{i:05d}.png' if labels is None else f'class_{labels[i]}_{i:05d}.png'
      image_io.save(out / name, np.repeat(img, 3, -1) if img.shape[-1] == 1 else img)
