"""Trains a GAN into a run directory, resuming from its checkpoints if it has any.

Run directory:
  config.json      the full config          run_info.json  seed, commit, devices, status
  metrics.jsonl    {"step", d_loss, g_loss, ..., steps_per_sec} every log.every steps
  tensorboard/     the same scalars as TensorBoard events (tensorboardX, no TensorFlow)
  samples/step_NNNNNNN.png   a fixed-noise sample grid (or 2D scatter) every log.sample_every
  checkpoints/     Orbax checkpoints of the full state (async, the latest checkpoint.keep)
  eval.json        the config's evaluation of the final generator

Only process 0 writes files other than checkpoints.
"""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxstyle import checkpoint, data, fileio, images, parallel, run_info, samples
from jaxstyle.errors import ConfigError, NonFiniteLossError
from jaxstyle.gan import models as gan_models
from jaxstyle.gan import train as gan_train
from jaxstyle.logging import MetricWriter, check_writable, write_json


def build(config: ml_collections.ConfigDict):
  """Source, models and trainer for a config; raises ConfigError/ImageError first."""
  if int(config.train.num_steps) < 0:
    raise ConfigError(f'train.num_steps must be >= 0, got {config.train.num_steps}')
  source = data.source_from_config(config.data)
  subset = config.data.get('subset')
  if subset:
    source = data.subset(source, subset)
  shape = data.data_shape(config.data)
  transform = data.transform_from_config(config.data)
  output_bias = None
  if config.model.arch == 'goodfellow_mnist':
    # pylearn2 init_bias_from_marginals: sigmoid(bias) = mean pixel of the training data.
    idx = np.arange(min(len(source), 10000))
    mean = np.clip(transform(source.get(idx)).mean(0), 1e-3, 1 - 1e-3)
    output_bias = np.log(mean / (1 - mean)).astype(np.float32)
  models = gan_models.build(config.model, shape, bn_axis=parallel.AXIS if
                            config.model.get('sync_batchnorm', True) else None,
                            output_bias=output_bias)
  t = config.train
  step_config = gan_train.StepConfig(
      loss=t.loss, gp_weight=float(t.gp_weight), d_steps=int(t.d_steps), update=t.update_rule,
      d_loss_scale=float(t.d_loss_scale), ema_decay=float(t.ema_decay),
      ema_start=int(t.ema_start), pack=int(config.model.get('pack', 1)))
  trainer = gan_train.GANTrainer(models, step_config, gan_train.make_optimizer(config.g_optimizer),
                                 gan_train.make_optimizer(config.d_optimizer))
  return source, shape, transform, trainer


def _check_finite(pending: list) -> list:
  """Fetches queued metrics; raises NonFiniteLossError at the first bad step."""
  rows = []
  for step, metrics in jax.device_get(pending):
    row = {k: float(v) for k, v in metrics.items()}
    bad = [k for k, v in row.items() if not math.isfinite(v)]
    if bad:
      raise NonFiniteLossError(f'{", ".join(bad)} became non-finite at step {step}', step)
    rows.append((step, row))
  return rows


def _sample_figure(trainer, state, z, config, centers=None):
  x = np.asarray(trainer.sample_jit(parallel.host_local(state), z))
  if config.data.kind == 'mixture':
    return samples.scatter(x, centers)
  return samples.image_grid(x, trainer.models.data_range)


def _truncate_metrics(path: Path, last_step: int) -> None:
  """Drops metric rows written after the checkpoint a run resumes from."""
  if not path.exists():
    return
  keep = [line for line in path.read_text().splitlines()
          if line.strip() and json.loads(line)['step'] <= last_step]
  fileio.atomic_write(path, lambda f: f.write(''.join(l + '\n' for l in keep).encode()))


def run(config: ml_collections.ConfigDict, workdir: str | Path,
        show_progress: bool = True) -> dict:
  parallel.initialize_distributed()
  workdir = Path(workdir)
  start_time = time.time()
  is_main = jax.process_index() == 0
  info = run_info.collect(int(config.seed))
  check_writable(workdir)

  # Everything that can be wrong with the inputs fails here, before any output.
  source, shape, transform, trainer = build(config)
  global_batch = int(config.train.batch_size)
  parallel.check_batch(global_batch, trainer.cfg.pack)
  step_fn = parallel.DataParallel(trainer.step, config.parallel.mode)
  loader = data.Loader(source, global_batch, trainer.cfg.d_steps, int(config.data.order_seed),
                       transform, jax.process_index(), jax.process_count())
  config_dict = json.loads(config.to_json_best_effort())
  fingerprint = checkpoint.fingerprint(config_dict)
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints', int(config.checkpoint.every),
                                 int(config.checkpoint.keep))

  state = trainer.init(int(config.seed), shape)
  start_step = 0
  if ckpt.latest_step() is not None:
    state, meta = ckpt.restore(state, fingerprint)
    start_step = int(meta['step'])
    info['resumed_from_step'] = start_step
  num_steps = int(config.train.num_steps)

  workdir.mkdir(parents=True, exist_ok=True)
  writer = None
  if is_main:
    write_json(workdir / 'config.json', config_dict)
    info.update(status='running', start_step=start_step, num_steps=num_steps,
                data=source.name, params_g=gan_train.count_params(state.g_params),
                params_d=gan_train.count_params(state.d_params))
    write_json(workdir / 'run_info.json', info)
    _truncate_metrics(workdir / 'metrics.jsonl', start_step)
    writer = MetricWriter(workdir, tensorboard=bool(config.log.tensorboard))

  centers = data.mixture_centers(config.data.name)[0] if config.data.kind == 'mixture' else None
  z_fixed = trainer.models.sample_noise(jax.random.key(int(config.seed) + 1),
                                        (int(config.log.num_samples),))
  state = step_fn.put_state(state)
  pending, last_log = [], (time.time(), start_step)
  ckpt_every = int(config.checkpoint.every)
  step = start_step

  def meta_for(s):
    return {'step': s, 'examples_seen': s * global_batch * trainer.cfg.d_steps,
            'data_order_seed': int(config.data.order_seed), 'seed': int(config.seed),
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
  # SIGTERM (preemption, scheduler) is handled like Ctrl-C: checkpoint, then stop.
  handle_term = is_main and hasattr(signal, 'SIGTERM')
  previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler) if handle_term else None
  last_rows = []
  try:
    for step in range(start_step, num_steps):
      state, metrics = step_fn(state, loader.batch(step))
      pending.append((step + 1, metrics))
      done = step + 1
      if done % int(config.log.every) == 0 or done == num_steps or done % ckpt_every == 0:
        rows, pending = _check_finite(pending), []
        rate = log(rows, done)
        last_rows = rows
        bar.set_postfix(d=f'{rows[-1][1]["d_loss"]:.3f}', g=f'{rows[-1][1]["g_loss"]:.3f}',
                        sps=f'{rate:.1f}', refresh=False)
      if done % ckpt_every == 0 or done == num_steps:
        ckpt.save(done, state, meta_for(done), force=True)
      if is_main and (done % int(config.log.sample_every) == 0 or done == num_steps):
        images.save(workdir / 'samples' / f'step_{done:07d}.png',
                    _sample_figure(trainer, state, z_fixed, config, centers))
      bar.update(1)
    ckpt.wait(num_steps)
  except KeyboardInterrupt:
    # Keep the work done: the state after the last completed step becomes a checkpoint.
    try:
      rows = _check_finite(pending)
      log(rows, step)
      try:
        done = int(parallel.host_local(state.step))
      except RuntimeError:  # interrupted inside a step: its input buffers were donated
        done = None
      if done is not None and ckpt.latest_step() != done:
        ckpt.save(done, state, meta_for(done), force=True)
      ckpt.wait(done)
    finally:
      _finish(workdir, info, 'interrupted', start_time, writer, is_main)
    raise
  except NonFiniteLossError as e:
    ckpt.wait()
    kept = ckpt.latest_step()
    _finish(workdir, info, 'non_finite', start_time, writer, is_main)
    raise NonFiniteLossError(f'{e}; training stopped, the last checkpoint (step {kept}) in '
                             f'{workdir}/checkpoints is kept: lower the learning rates or '
                             f'change the loss, and resume or restart', e.step) from None
  except BaseException:
    _finish(workdir, info, 'failed', start_time, writer, is_main)
    raise
  finally:
    bar.close()
    loader.close()
    if handle_term:  # None: the previous handler was not set from Python
      signal.signal(signal.SIGTERM, signal.SIG_DFL if previous_term is None else previous_term)

  if last_rows:
    info['final_metrics'] = last_rows[-1][1]
  if is_main and config.eval.kind != 'none':
    from experiments import gan_eval
    result = gan_eval.evaluate(config, trainer, parallel.host_local(state), source, transform)
    write_json(workdir / 'eval.json', result)
    info['eval'] = {k: v for k, v in result.items() if isinstance(v, (int, float))}
    for name in ('parzen', 'classifier', 'fid'):  # headline numbers of nested results
      for k, v in result.get(name, {}).items():
        if isinstance(v, (int, float)) and k in ('log_likelihood', 'stderr', 'frechet_distance',
                                                 'fid', 'kid'):
          info['eval'][f'{name}_{k}'] = v
  ckpt.close()
  return _finish(workdir, info, 'completed', start_time, writer, is_main)


def _finish(workdir, info, status, start_time, writer, is_main):
  info.update(status=status, wall_time_s=round(time.time() - start_time, 2))
  if is_main:
    if writer is not None:
      writer.close()
    write_json(workdir / 'run_info.json', info)
  return info


INTERRUPTED = 'a checkpoint of the last completed step (rerun the same command to resume) is'


def summary(info: dict, workdir: str) -> str:
  m = info.get('final_metrics', {})
  losses = ', '.join(f'{k} {m[k]:.4g}' for k in ('d_loss', 'g_loss') if k in m)
  ev = ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
                 for k, v in info.get('eval', {}).items() if k not in ('kind', 'eval_seconds'))
  return (f'{info["status"]}: {workdir} (step {info["num_steps"]}, {info["wall_time_s"]} s'
          f'{", " + losses if losses else ""}{"; " + ev if ev else ""})')
