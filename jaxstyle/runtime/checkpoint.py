"""Full-state checkpoints with Orbax: periodic async saves, auto-resume, safe failures.

A checkpoint holds the whole training state (both networks, both optimiser states,
BatchNorm statistics, EMA weights, step, RNG key) plus a JSON record with the data
position and a fingerprint of the config. Orbax writes each step to a temporary
directory and renames it when complete, so a run killed during a save leaves the
previous checkpoint as the latest usable one; the unfinished temporary directory is
ignored (and cleaned up) on restart.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from jaxstyle.errors import ConfigError, OutputError
from jaxstyle.runtime.config import flatten

# Orbax writes step N into 'N.orbax-checkpoint-tmp' and renames it when complete.
_ORBAX_TMP_SUFFIX = '.orbax-checkpoint-tmp'

# Keys that may change between a run and its resumption (training length, logging; the
# kernel formulations, which change speed and rounding only and whose 'auto' resolves
# anew on the backend that resumes).
RESUMABLE_CHANGES = ('train.num_steps', 'log.', 'checkpoint.', 'eval.', 'parallel.',
                     # how XLA runs (the numbers after resuming follow the new setting)
                     'repro.',
                     # how the input pipeline runs, not which examples it yields; and
                     # on_bad_image: a run that 'stop' let reach step k met no bad image,
                     # so it equals a 'skip' run up to k and may resume as one
                     'data.workers', 'data.prefetch', 'data.verify_images', 'data.on_bad_image',
                     'style_data.workers', 'style_data.prefetch', 'style_data.verify_images',
                     'style_data.on_bad_image',
                     'data.path', 'data.tfds_data_dir', 'data.download', 'style_data.path',
                     'style_data.tfds_data_dir', 'style_data.download', 'weights_path',
                     'model.conv_impl', 'vgg_conv_impl')
# Keys added after checkpoints were first written, with the value that a checkpoint
# without them was trained with.
ADDED_KEYS = {'precision': 'float32',
              # conditional GANs and DiffAugment (every earlier GAN run was neither)
              'model.conditioning': 'none', 'train.ac_weight': 1.0, 'train.augment': ''}


def fingerprint(config_dict: dict) -> dict:
  """The config entries a checkpoint must agree with to be resumed."""
  return {k: v for k, v in flatten(config_dict).items()
          if not any(k == r or (r.endswith('.') and k.startswith(r)) for r in RESUMABLE_CHANGES)}


class Checkpointer:
  """An Orbax CheckpointManager of one run's state, with errors a user can act on.

  Saves are asynchronous: ``save`` returns while the arrays are written in the
  background, and a failure of that write (a full disk) surfaces at the next ``save`` or
  ``wait`` as an OutputError naming the step that failed and the last intact checkpoint.
  Temporary directories of saves that never finished (a killed process) are removed
  when the next Checkpointer opens the directory.
  """

  def __init__(self, directory: str | Path, every: int, keep: int = 3,
               async_save: bool = True, remove_unfinished: bool = False):
    if every < 1:
      raise ConfigError(f'checkpoint.every must be >= 1, got {every}')
    self.directory = Path(directory).absolute()
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            save_interval_steps=every,
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            enable_async_checkpointing=async_save, create=True))
    if remove_unfinished:  # only the run that owns the directory: a reader (evaluate)
      self._remove_unfinished()  # must not delete a live run's save in progress
    self._in_flight = None  # the step of the last save started, until it is known finished

  def _remove_unfinished(self) -> None:
    """Deletes the temporary directories of saves that never finished (a process killed
    mid-write). Orbax never reads them; removing them here, synchronously, means a resumed
    run starts from a directory holding complete checkpoints only."""
    if jax.process_index() != 0 or not self.directory.exists():
      return
    for path in self.directory.iterdir():
      if _ORBAX_TMP_SUFFIX in path.name and path.is_dir():
        shutil.rmtree(path, ignore_errors=True)

  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, or None if there is none."""
    return self.manager.latest_step()

  def save(self, step: int, state, meta: dict, force: bool = False) -> None:
    """Starts an (async) save; an earlier save's failure surfaces here as OutputError."""
    self.wait()  # Orbax finishes the previous save first anyway; this names its failure
    try:
      if self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=force):
        self._in_flight = step
    except OSError as e:
      self._fail(step, e)

  def wait(self, step: int | None = None) -> None:
    """Blocks until the save in flight is on disk; OutputError if it failed."""
    try:
      self.manager.wait_until_finished()
    except OSError as e:
      self._fail(self._in_flight if self._in_flight is not None else step, e)
    self._in_flight = None

  def _fail(self, step, e: OSError):
    self._in_flight = None
    previous = [s for s in self.manager.all_steps() if step is None or s < step]
    kept = f'the checkpoint at step {max(previous)} is intact' if previous else 'no earlier checkpoint'
    why = 'the disk is full' if e.errno == errno.ENOSPC else (e.strerror or str(e))
    raise OutputError(f'saving the checkpoint at step {step} in {self.directory} failed: {why}; '
                      f'{kept}; free space (or fix the directory) and rerun the same command to '
                      f'resume') from None

  def restore(self, state_template, config_fingerprint: dict, step: int | None = None):
    """-> (state, meta) from ``step`` (default: the latest), checked against the config."""
    step = self.latest_step() if step is None else step
    meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    # Filtered again: a key made resumable after the checkpoint was written is in it.
    saved = fingerprint(dict(meta.get('fingerprint', {})))
    if saved.get('task') == 'fast_style':  # the feed-forward task's name before 0.2
      saved['task'] = 'feedforward'
    for key, value in ADDED_KEYS.items():
      if key in config_fingerprint:
        saved.setdefault(key, value)
    diffs = [f'{k}: checkpoint {saved.get(k)!r} != config {config_fingerprint.get(k)!r}'
             for k in sorted(set(saved) | set(config_fingerprint))
             if saved.get(k) != config_fingerprint.get(k)]
    if diffs:
      raise ConfigError(f'{self.directory} holds checkpoints of a different model or config '
                        f'({"; ".join(diffs[:4])}{"; ..." if len(diffs) > 4 else ""}); use a new '
                        f'--workdir or the config it was trained with')
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(state_template)))
    except (ValueError, KeyError, TypeError) as e:
      raise ConfigError(f'the checkpoint at step {step} in {self.directory} does not fit this '
                        f'model ({str(e).splitlines()[0][:200]}); use a new --workdir') from None
    return restored.state, meta

  def close(self):
    """Waits for a save in flight and closes the Orbax manager; call once at the end."""
    self.manager.close()
