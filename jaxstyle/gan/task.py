"""The GAN task: trains a GAN into a run directory, resuming from its checkpoints if any.

    jaxstyle run mixture_ring8[:smoke] --workdir runs/NAME [--config.KEY=VALUE ...]

The run directory is ``jaxstyle.runtime.trainloop``'s (config.json, run_info.json,
metrics.jsonl with d_loss, g_loss, ..., tensorboard/, checkpoints/) with
samples/step_NNNNNNN.png a fixed-noise sample grid (or 2D scatter), eval.json, the
config's evaluation of the final generator, and evals.jsonl, the same evaluation every
eval.every steps ending with the final generator's (no evals.jsonl when eval.every is 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxstyle import data
from jaxstyle.errors import ConfigError
from jaxstyle.gan import augment as gan_augment
from jaxstyle.gan import evaluation
from jaxstyle.gan import layers as gan_layers
from jaxstyle.gan import models as gan_models
from jaxstyle.gan import train as gan_train
from jaxstyle.io import figures
from jaxstyle.runtime import determinism, parallel, precision, run_info, rundir, trainloop
from jaxstyle.runtime.rundir import check_writable, write_json


def build(config: ml_collections.ConfigDict):
  """Source, models and trainer for a config; raises ConfigError/ImageError first."""
  if int(config.train.num_steps) < 0:
    raise ConfigError(f'train.num_steps must be >= 0, got {config.train.num_steps}')
  precision.from_config(config)   # bad settings fail before the data is read
  policy = gan_augment.check_policy(str(config.train.get('augment', '')))
  if policy and config.data.kind == 'mixture':
    raise ConfigError(f'train.augment={config.train.augment!r}: DiffAugment transforms images, '
                      f'but {config.data.name} is a 2D mixture; set train.augment=""')
  cond = config.model.get('conditioning', 'none')
  if cond not in gan_layers.CONDITIONINGS:   # before the data is read
    raise ConfigError(f'model.conditioning must be one of {", ".join(gan_layers.CONDITIONINGS)}, '
                      f'got {cond!r}')
  conditional = cond != 'none'
  source = data.source_from_config(config.data, classes=conditional)
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
  num_classes = int(getattr(source, 'num_classes', 0))  # 0 or 1: build_trainer's error
  if conditional and config.eval.kind == 'mnist' and num_classes not in (0, 1, 10):
    raise ConfigError(f'eval.kind=mnist scores a conditional model with the MNIST digit '
                      f'classifier, but the data has {num_classes} classes; use eval.kind=none '
                      f'or fid')
  trainer = build_trainer(config, shape, num_classes, output_bias)
  return source, shape, transform, trainer


def build_trainer(config: ml_collections.ConfigDict, shape: tuple, num_classes: int = 0,
                  output_bias=None) -> gan_train.GANTrainer:
  """The models and trainer of ``config`` for examples of ``shape`` from a source with
  ``num_classes`` classes, without reading any data (``build`` reads it; ``jaxstyle
  sample`` restores a checkpoint into this). Raises ConfigError for bad settings."""
  policy = precision.from_config(config)
  models = gan_models.build(config.model, shape, bn_axis=parallel.AXIS if
                            config.model.get('sync_batchnorm', True) else None,
                            output_bias=output_bias, dtype=policy.compute_dtype,
                            num_classes=num_classes)
  t = config.train
  step_config = gan_train.StepConfig(
      loss=t.loss, gp_weight=float(t.gp_weight), d_steps=int(t.d_steps), update=t.update_rule,
      d_loss_scale=float(t.d_loss_scale), ema_decay=float(t.ema_decay),
      ema_start=int(t.ema_start), pack=int(config.model.get('pack', 1)),
      ac_weight=float(t.get('ac_weight', 1.0)), augment=str(t.get('augment', '')))
  return gan_train.GANTrainer(models, step_config, gan_train.make_optimizer(config.g_optimizer),
                              gan_train.make_optimizer(config.d_optimizer))


def preview_inputs(models, seed: int, num_samples: int):
  """The fixed noise (and labels) of the sample grids: ``num_samples`` noise vectors,
  or for a conditional model one row per class of ``max(1, num_samples // K)`` samples,
  the same noise in every row (labels ``repeat(arange(K), columns)``)."""
  if not models.conditional:
    return models.sample_noise(jax.random.key(seed + 1), (num_samples,)), None, None
  k = models.num_classes
  columns = max(1, num_samples // k)
  z = models.sample_noise(jax.random.key(seed + 1), (columns,))
  return np.tile(np.asarray(z), (k, 1)), np.repeat(np.arange(k, dtype=np.int32), columns), columns


def _sample_figure(trainer, state, z, config, centers=None, y=None, columns=None):
  x = np.asarray(trainer.sample_jit(parallel.host_local(state), z, y=y))
  if config.data.kind == 'mixture':
    return figures.scatter(x, centers)
  return figures.image_grid(x, trainer.models.data_range, columns=columns)


def _periodic_eval(config, trainer, source, transform):
  if config.eval.kind == 'none' or not int(config.eval.get('every', 0)):
    return None
  return lambda host_state: evaluation.evaluate(config, trainer, host_state, source, transform)


def run(config: ml_collections.ConfigDict, workdir: str | Path,
        show_progress: bool = True) -> dict:
  """Trains the GAN ``config`` describes in ``workdir`` (resuming from its checkpoints),
  then, unless ``eval.kind`` is 'none', evaluates the final generator into eval.json.

  Returns the run_info dict (status 'completed', wall time, final metrics, headline
  evaluation numbers under 'eval'). Bad data or settings raise ConfigError/ImageError
  before any output; other failures are recorded in run_info.json and propagate.
  """
  # Before JAX starts its backend: the thread pool and XLA flags are read then.
  repro = determinism.apply_config(config)
  parallel.initialize_distributed()
  workdir = Path(workdir)
  start_time = time.time()
  is_main = jax.process_index() == 0
  info = run_info.collect(int(config.seed), determinism=repro)
  check_writable(workdir)

  # Everything that can be wrong with the inputs fails here, before any output.
  source, shape, transform, trainer = build(config)
  global_batch = int(config.train.batch_size)
  parallel.check_batch(global_batch, trainer.cfg.pack)
  # The loader ships uint8 images; the step normalises them to data.range on the device.
  step_fn = parallel.DataParallel(data.normalizing(trainer.step, config.data.range),
                                  config.parallel.mode)
  loader = data.Loader(source, global_batch, trainer.cfg.d_steps, int(config.data.order_seed),
                       data.loader_transform(config.data), jax.process_index(),
                       jax.process_count(), labels=trainer.models.conditional,
                       **data.loader_options(config.data))
  state = trainer.init(int(config.seed), shape)

  centers = data.mixture_centers(config.data.name)[0] if config.data.kind == 'mixture' else None
  z_fixed, y_fixed, columns = preview_inputs(trainer.models, int(config.seed),
                                             int(config.log.num_samples))
  job = trainloop.Job(
      state=state, step_fn=step_fn, batch=loader.batch,
      examples_per_step=global_batch * trainer.cfg.d_steps,
      preview=lambda host_state: _sample_figure(trainer, host_state, z_fixed, config, centers,
                                                y_fixed, columns),
      bar_keys=('d_loss', 'g_loss'),
      info=dict(data=source.name, params_g=gan_train.count_params(state.g_params),
                params_d=gan_train.count_params(state.d_params),
                conditioning=trainer.models.conditioning,
                class_names=list(getattr(source, 'class_names', []))
                if trainer.models.conditional else [],
                precision=precision.from_config(config).record(),
                kernels=gan_models.kernels(config.model)),
      evaluate=_periodic_eval(config, trainer, source, transform),
      eval_every=int(config.eval.get('every', 0)))
  try:
    state, info, writer, ckpt = trainloop.train(config, workdir, job, info, start_time,
                                                show_progress)
  finally:
    loader.close()
  try:
    with rundir.status_on_error(workdir, info, start_time, writer):
      if is_main and config.eval.kind != 'none':
        result = evaluation.evaluate(config, trainer, state, source, transform)
        write_json(workdir / 'eval.json', result)
        if job.eval_every:  # the final row of evals.jsonl: the same numbers, not a second eval
          trainloop.record_eval(workdir, int(config.train.num_steps), result)
        info['eval'] = {k: v for k, v in result.items() if isinstance(v, (int, float))}
        for name in ('parzen', 'classifier', 'fid', 'prdc', 'inception_score'):
          for k, v in result.get(name, {}).items():   # headline numbers of nested results
            if isinstance(v, (int, float)) and k in (
                'log_likelihood', 'stderr', 'frechet_distance', 'fid', 'kid', 'mean',
                'precision', 'recall', 'density', 'coverage'):
              info['eval'][f'{name}_{k}'] = v
  finally:
    parallel.barrier('jaxstyle_gan_final_evaluation')  # reached even if process 0 failed
    ckpt.close()
  return rundir.finish(workdir, info, 'completed', start_time, writer)


INTERRUPTED = 'a checkpoint of the last completed step (rerun the same command to resume) is'


def summary(info: dict, workdir: str) -> str:
  """One line for the CLI: status, run directory, step, wall time, final D/G losses and
  the evaluation's numbers."""
  m = info.get('final_metrics', {})
  losses = ', '.join(f'{k} {m[k]:.4g}' for k in ('d_loss', 'g_loss') if k in m)
  ev = ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
                 for k, v in info.get('eval', {}).items() if k not in ('kind', 'eval_seconds'))
  return (f'{info["status"]}: {workdir} (step {info["num_steps"]}, {info["wall_time_s"]} s'
          f'{", " + losses if losses else ""}{"; " + ev if ev else ""})')
