"""The training loop shared by every trained model (GANs, feed-forward style networks).

A task builds its state, its data-parallel step and its batches; ``train`` runs the
steps and owns the run directory's common parts:

  config.json      the full config          run_info.json  seed, commit, devices, status
  metrics.jsonl    {"step", <metrics>..., steps_per_sec}: interval means every log.every
  tensorboard/     the same scalars as TensorBoard events (tensorboardX, no TensorFlow)
  samples/step_NNNNNNN.png   the task's preview figure every log.sample_every steps
  evals.jsonl      {"step", <evaluation numbers>...} every eval.every steps and at the end
                   (if the task has one; the caller records the final row, see record_eval)
  checkpoints/     Orbax checkpoints of the full state (async, the latest checkpoint.keep)

Resumption: a workdir with checkpoints resumes from the latest one (after checking the
config fingerprint); metric and evaluation rows written after it are dropped. Ctrl-C and SIGTERM
checkpoint the last completed step; a non-finite metric stops the run naming the step,
and the checkpoints never hold it. Only process 0 writes files other than checkpoints.

Several processes: every process handles SIGINT and SIGTERM (a TPU preemption signals
every worker, a scheduler perhaps only one). A checkpoint is a collective write, so the
processes must stop at the same step: every ``parallel.stop_sync_every`` steps they
all-reduce their stop flags (``parallel.any_process``) and, if any process was signalled,
all save the same step and exit. With one process the flag is read after every step.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
from tqdm import tqdm

from jaxstyle.errors import ConfigError, NonFiniteLossError
from jaxstyle.io import fileio, images
from jaxstyle.runtime import checkpoint, parallel, rundir
from jaxstyle.runtime.interrupt import StopRequest
from jaxstyle.runtime.rundir import MetricWriter


@dataclasses.dataclass
class Job:
  """What a task hands to ``train``.

  Attributes:
    state: the initial host state (a pytree of arrays).
    step_fn: ``step_fn(state, batch) -> (state, metrics)`` (a ``parallel.DataParallel``).
    batch: ``batch(step)`` -> this process's input of global step ``step``.
    examples_per_step: global examples consumed per step (recorded in checkpoints).
    preview: ``preview(host_state) -> RGB image`` saved under samples/ (or None).
    bar_keys: metrics shown on the progress bar.
    info: task-specific entries for run_info.json (data name, parameter counts, ...).
    evaluate: ``evaluate(host_state) -> dict`` of numbers logged to evals.jsonl every
      ``eval_every`` steps (0: never), for "best over training" in sweep tables. The last
      step is not evaluated here: the caller evaluates the returned state once and records
      it with ``record_eval`` (so a final step that is a multiple of ``eval_every`` is
      not evaluated twice).
  """
  state: Any
  step_fn: Callable
  batch: Callable[[int], Any]
  examples_per_step: int
  preview: Callable[[Any], np.ndarray] | None = None
  bar_keys: tuple[str, ...] = ()
  info: dict = dataclasses.field(default_factory=dict)
  evaluate: Callable[[Any], dict] | None = None
  eval_every: int = 0


def check_finite(pending: list) -> list:
  """Fetches queued metrics; raises NonFiniteLossError at the first bad step."""
  rows = []
  for step, metrics in jax.device_get(pending):
    row = {k: float(v) for k, v in metrics.items()}
    bad = [k for k, v in row.items() if not math.isfinite(v)]
    if bad:
      raise NonFiniteLossError(f'{", ".join(bad)} became non-finite at step {step}', step)
    rows.append((step, row))
  return rows


def truncate_metrics(path: Path, last_step: int) -> None:
  """Drops metric rows written after the checkpoint a run resumes from."""
  if not path.exists():
    return
  keep = [line for line in path.read_text().splitlines()
          if line.strip() and json.loads(line)['step'] <= last_step]
  fileio.atomic_write(path, lambda f: f.write(''.join(l + '\n' for l in keep).encode()))


def _eval_row(step: int, result: dict) -> str:
  return json.dumps({'step': step, **{k: v for k, v in result.items()
                                      if isinstance(v, (int, float)) and not isinstance(v, bool)}})


def _append_eval(path: Path, step: int, result: dict) -> None:
  with open(path, 'a') as f:
    f.write(_eval_row(step, result) + '\n')


def record_eval(workdir: str | Path, step: int, result: dict) -> None:
  """Writes the final evaluation as the last evals.jsonl row (replacing any row of
  ``step`` or later, e.g. from an earlier completion of the same run), atomically."""
  path = Path(workdir) / 'evals.jsonl'
  keep = []
  if path.exists():
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)['step'] < step]
  keep.append(_eval_row(step, result))
  fileio.atomic_write(path, lambda f: f.write(''.join(l + '\n' for l in keep).encode()))


def train(config, workdir: str | Path, job: Job, info: dict, start_time: float,
          show_progress: bool = True):
  """Runs (or resumes) ``job`` to ``config.train.num_steps``.

  ``info`` is the run_info dict being built (``run_info.collect``); it is updated and
  written. Returns ``(host_state, info, writer, checkpointer)``; the caller evaluates
  or exports, then calls ``rundir.finish(workdir, info, 'completed', start_time, writer)`` and
  ``checkpointer.close()``. On failure run_info.json records the status and the
  exception propagates.
  """
  workdir = Path(workdir)
  is_main = jax.process_index() == 0
  sync_every = int((config.get('parallel') or {}).get('stop_sync_every', 10))
  if sync_every < 1:
    raise ConfigError(f'parallel.stop_sync_every must be >= 1, got {sync_every}')
  config_dict = json.loads(config.to_json_best_effort())
  fingerprint = checkpoint.fingerprint(config_dict)
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints', int(config.checkpoint.every),
                                 int(config.checkpoint.keep), remove_unfinished=True)
  state = job.state
  start_step = 0
  if ckpt.latest_step() is not None:
    state, meta = ckpt.restore(state, fingerprint)
    start_step = int(meta['step'])
    info['resumed_from_step'] = start_step
  num_steps = int(config.train.num_steps)

  rundir.begin(workdir, config_dict, info, start_step=start_step, num_steps=num_steps, **job.info)
  writer = None
  if is_main:
    truncate_metrics(workdir / 'metrics.jsonl', start_step)
    truncate_metrics(workdir / 'evals.jsonl', start_step)
    writer = MetricWriter(workdir, tensorboard=bool(config.log.tensorboard))

  state = job.step_fn.put_state(state)
  pending, last_log = [], (time.time(), start_step)
  ckpt_every = int(config.checkpoint.every)
  step = start_step

  def meta_for(s):
    return {'step': s, 'examples_seen': s * job.examples_per_step,
            'data_order_seed': int(config.data.get('order_seed', 0)), 'seed': int(config.seed),
            'fingerprint': fingerprint}

  def log(rows, now_step):
    """One metrics.jsonl row per interval: the mean of each metric over its steps."""
    nonlocal last_log
    t, s0 = last_log
    rate = (now_step - s0) / max(time.time() - t, 1e-9)
    last_log = (time.time(), now_step)
    if writer is not None and rows:
      mean = {k: float(np.mean([r[k] for _, r in rows])) for k in rows[-1][1]}
      writer.write_scalars(now_step, {**mean, 'steps_per_sec': rate})
    return rate

  bar = tqdm(total=num_steps, initial=start_step, disable=not (show_progress and is_main),
             unit='step', dynamic_ncols=True)
  # Ctrl-C, and SIGTERM (preemption, scheduler), stop the run after the step in progress:
  # checkpoint, then KeyboardInterrupt (see jaxstyle.runtime.interrupt for why not at once).
  signals = (signal.SIGINT, signal.SIGTERM) if hasattr(signal, 'SIGTERM') else (signal.SIGINT,)
  stop = StopRequest(signals).__enter__()
  multi_process = jax.process_count() > 1
  agreed_stop = False  # all processes stop at this step (and checkpoint it together)

  def stop_here(completed: int, last: bool = False) -> bool:
    """Whether every process stops after ``completed`` steps; at the same steps on every
    process, since ``any_process`` is a collective all of them must reach."""
    nonlocal agreed_stop
    if not multi_process:
      agreed_stop = stop.requested
    elif last or completed % sync_every == 0:
      agreed_stop = parallel.any_process(stop.requested)
    return agreed_stop

  last_rows = []
  try:
    for step in range(start_step, num_steps):
      if stop_here(step):
        raise KeyboardInterrupt(f'stop requested; stopping at step {step} on every process')
      state, metrics = job.step_fn(state, job.batch(step))
      pending.append((step + 1, metrics))
      done = step + 1
      if done % int(config.log.every) == 0 or done == num_steps or done % ckpt_every == 0:
        rows, pending = check_finite(pending), []
        rate = log(rows, done)
        last_rows = rows
        shown = {k: f'{rows[-1][1][k]:.4g}' for k in job.bar_keys if k in rows[-1][1]}
        bar.set_postfix(**shown, sps=f'{rate:.2f}', refresh=False)
      if done % ckpt_every == 0 or done == num_steps:
        ckpt.save(done, parallel.to_global(state), meta_for(done), force=True)
      if is_main and job.preview is not None and (
          done % int(config.log.sample_every) == 0 or done == num_steps):
        images.save(workdir / 'samples' / f'step_{done:07d}.png',
                    job.preview(parallel.host_local(state)))
      if (is_main and job.evaluate is not None and job.eval_every and done % job.eval_every == 0
          and done < num_steps):  # the final evaluation is the caller's (record_eval)
        _append_eval(workdir / 'evals.jsonl', done, job.evaluate(parallel.host_local(state)))
      bar.update(1)
    ckpt.wait(num_steps)
    if stop_here(num_steps, last=True):  # a request during the last steps: stop before the
      raise KeyboardInterrupt('stop requested')  # caller's final work (its step is saved)
  except KeyboardInterrupt:
    # Keep the work done: the state after the last completed step becomes a checkpoint.
    try:
      rows = check_finite(pending)
      log(rows, step)
      try:
        done = int(parallel.host_local(state.step))
      except RuntimeError:  # interrupted inside a step: its input buffers were donated
        done = None
      # With several processes a save is collective: only an agreed stop (every process
      # here, at the same step) may save; a second signal on one host exits at once.
      if done is not None and ckpt.latest_step() != done and (agreed_stop or not multi_process):
        ckpt.save(done, parallel.to_global(state), meta_for(done), force=True)
      ckpt.wait(done)
    finally:
      rundir.finish(workdir, info, 'interrupted', start_time, writer)
    raise
  except NonFiniteLossError as e:
    ckpt.wait()
    kept = ckpt.latest_step()
    rundir.finish(workdir, info, 'non_finite', start_time, writer)
    raise NonFiniteLossError(f'{e}; training stopped, the last checkpoint (step {kept}) in '
                             f'{workdir}/checkpoints is kept: lower the learning rates or '
                             f'change the loss, and resume or restart', e.step) from None
  except BaseException:
    rundir.finish(workdir, info, 'failed', start_time, writer)
    raise
  finally:
    bar.close()
    stop.__exit__()

  if last_rows:
    info['final_metrics'] = last_rows[-1][1]
  return parallel.host_local(state), info, writer, ckpt
