"""The Gatys task: one style transfer (or texture synthesis) into a run directory.

    jaxstyle run gatys[:VARIANTS] --workdir runs/NAME [--config.KEY=VALUE ...]

Run directory contents (``jaxstyle.runtime.rundir``):
  config.json     the full config
  run_info.json   seed, git commit + dirty flag, package versions, devices, command,
                  wall time, status, output, iterations done, final losses
  metrics.jsonl   one line per iteration: total and per-layer losses, evaluations
  images/iter_NNNNN.png  every ``save_every`` iterations
  final.png       the result (last_good.png / interrupted.png if stopped early)
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxstyle.errors import ConfigError, NonFiniteLossError, OutputError
from jaxstyle.gatys import transfer
from jaxstyle.io import images
from jaxstyle.kernels import select
from jaxstyle.perceptual import weights
from jaxstyle.runtime import determinism, precision, run_info, rundir
from jaxstyle.runtime.config import split_list, split_numbers
from jaxstyle.runtime.interrupt import StopRequest
from jaxstyle.runtime.rundir import MetricWriter, check_writable


def settings_from_config(config: ml_collections.ConfigDict) -> transfer.Settings:
  """``transfer.Settings`` from a gatys config (experiments/configs/gatys.py): layer
  lists are comma-separated strings; without ``content_image`` (texture synthesis) there are
  no content layers and the content weight is 0; the noise seed is ``config.seed``. Raises
  ConfigError for malformed ``style_layer_weights``; other checks happen in
  ``Settings.validate``.
  """
  layer_weights = config.style_layer_weights
  if layer_weights not in ('uniform', 'inv_channels_sq'):
    layer_weights = split_numbers(layer_weights, 'style_layer_weights')
  return transfer.Settings(
      content_layers=split_list(config.content_layers) if config.content_image else (),
      style_layers=split_list(config.style_layers),
      style_layer_weights=layer_weights,
      content_weight=float(config.content_weight) if config.content_image else 0.0,
      style_weight=float(config.style_weight),
      tv_weight=float(config.tv_weight),
      loss_form=config.loss_form,
      pooling=config.pooling,
      optimizer=config.optimizer,
      iterations=int(config.iterations),
      learning_rate=float(config.learning_rate),
      lbfgs_memory=int(config.lbfgs_memory),
      max_linesearch_steps=int(config.max_linesearch_steps),
      init=config.init,
      init_noise_seed=int(config.seed),
      vgg_conv_impl=str(config.get('vgg_conv_impl', 'auto')))


def precision_from_config(config: ml_collections.ConfigDict) -> precision.Policy:
  """The run's precision policy: only 'float32' (ConfigError for 'bfloat16', saying why)."""
  # bfloat16 features would round the losses that the line search compares to about 3
  # significant digits, and image optimisation has no parameters to keep in float32.
  return precision.from_config(config, ('float32',), 'Gatys optimises one image with L-BFGS, '
                               'whose line search needs float32 losses (bfloat16 is for GAN '
                               'and feed-forward training)')


def _mask(spec: str, key: str, like: np.ndarray | None) -> np.ndarray:
  mask = images.load(spec, key).mean(-1)
  if like is not None:
    (h, w), (lh, lw) = mask.shape, like.shape[:2]
    if abs(h / w - lh / lw) > 0.02 * lh / lw:
      raise ConfigError(f'{key}: {spec} is {w}x{h} px but its image is {lw}x{lh}; draw the '
                        f'mask on that image (same aspect ratio)')
  return mask


def _normalized(loaded: weights.LoadedWeights, config, run_images, pooling):
  """The weights rescaled to mean activation 1 per filter (jaxstyle.gatys.normalize)."""
  from jaxstyle.gatys import normalize
  spec = str(config.normalize_weights)
  if spec == 'inputs':
    rgbs = [img for img in run_images if img is not None]
  else:
    rgbs = [images.load(s, 'normalize_weights') for s in split_list(spec)]
  size = int(config.image_size)
  inputs = [loaded.preprocessing(images.resize(rgb, images.size_for(rgb.shape[:2], size))[None])
            for rgb in rgbs]
  params, _ = normalize.normalize(loaded.params, loaded.arch, inputs, pooling)
  return weights.LoadedWeights(loaded.source, loaded.path, params)


def regions_from_config(config, content, styles) -> list[transfer.Region]:
  """The Regions of ``content_masks`` / ``region_styles`` / ``style_masks`` (or none)."""
  masks = split_list(config.content_masks)
  if not masks:
    if split_list(config.region_styles) or split_list(config.style_masks):
      raise ConfigError('region_styles and style_masks need content_masks (one mask per region)')
    return []
  if content is None:
    raise ConfigError('content_masks need a content image (spatial control of style transfer)')
  if config.region_styles:
    try:
      which = [int(t) for t in split_list(config.region_styles)]
    except ValueError:
      raise ConfigError(f'region_styles must be comma-separated integers, '
                        f'got {config.region_styles!r}') from None
  else:
    which = list(range(len(masks))) if len(styles) == len(masks) else [0] * len(masks)
  style_masks = [t.strip() for t in str(config.style_masks).split(',')] \
      if config.style_masks else [''] * len(masks)
  if len(which) != len(masks) or len(style_masks) != len(masks):
    raise ConfigError(f'{len(masks)} content_masks need as many region_styles and style_masks '
                      f'entries, got {len(which)} and {len(style_masks)}')
  regions = []
  for m, i, sm in zip(masks, which, style_masks):
    if not 0 <= i < len(styles):
      raise ConfigError(f'region_styles: {i} is not a style image index (0..{len(styles) - 1})')
    regions.append(transfer.Region(_mask(m, 'content_masks', content), i,
                                  _mask(sm, 'style_masks', styles[i]) if sm else None))
  return regions


def _check_workdir(workdir: Path) -> None:
  check_writable(workdir)
  if (workdir / 'metrics.jsonl').exists() or (workdir / 'final.png').exists():
    raise OutputError(f'workdir {workdir} already holds a run; choose a new --workdir '
                      f'(or delete that one)')


def run(config: ml_collections.ConfigDict, workdir: str | Path,
        show_progress: bool = True) -> dict:
  """Validates everything, then optimises and writes the run directory.

  Returns the summary also stored in run_info.json. Raises a JaxstyleError, having
  written nothing, for bad input; NonFiniteLossError after saving the last good image.
  """
  # Before JAX starts its backend: the thread pool and XLA flags are read then.
  repro = determinism.apply_config(config)
  workdir = Path(workdir)
  start = time.time()
  info = run_info.collect(int(config.seed), determinism=repro)
  _check_workdir(workdir)

  # Everything that can be wrong with the inputs fails here, before any output.
  settings = settings_from_config(config)
  policy = precision_from_config(config)
  loaded = weights.load(config.weights, config.weights_path or None,
                        verify=bool(config.weights_verify))
  content = images.load(config.content_image, 'content_image') if config.content_image else None
  style_specs = split_list(config.style_images)
  if not style_specs:
    raise ConfigError('style_images is empty: give at least one style image')
  styles = [images.load(spec, 'style_images') for spec in style_specs]
  if config.normalize_weights:
    loaded = _normalized(loaded, config, [content] + styles, settings.pooling)
  stylizer = transfer.Stylizer(loaded, settings)
  init_image = images.load(config.init_image, 'init_image') if config.init_image else None
  plan = transfer.prepare(
      stylizer, content, styles, blend=split_numbers(config.style_blend_weights, 'style_blend_weights'),
      image_size=int(config.image_size), num_scales=int(config.num_scales),
      style_scale=float(config.style_scale), preserve_colors=config.preserve_colors,
      init_image=init_image, regions=regions_from_config(config, content, styles),
      guide_mode=config.guide_mode)

  rundir.begin(workdir, json.loads(config.to_json_best_effort()), info,
               backbone=loaded.source.description, weights=loaded.source.name,
               normalized_weights=str(config.normalize_weights),
               weights_file=str(loaded.path), output_sizes=plan.sizes,
               precision=policy.record(), kernels=select.record(vgg_conv=stylizer.vgg_conv))

  total_iterations = settings.iterations * len(plan.sizes)
  bar = tqdm(total=total_iterations, disable=not show_progress, unit='it',
             desc='stylize', dynamic_ncols=True)
  last = {}

  def on_progress(p: transfer.Progress):
    # One transfer for all the terms: each float() of a device scalar is a round trip.
    scalars = {k: float(v) for k, v in jax.device_get(p.terms).items()}
    writer.write_scalars(p.iteration, {'scale': p.scale, 'evals': p.num_evals, **scalars})
    last.update(iteration=p.iteration, progress=p, losses=scalars)
    bar.update(1)
    bar.set_postfix(loss=f'{scalars["total"]:.4g}', evals=p.num_evals)
    if config.save_every and p.iteration % config.save_every == 0 \
        and p.iteration != total_iterations:
      images.save(workdir / 'images' / f'iter_{p.iteration:05d}.png', p.image())
    stop.check()  # Ctrl-C / SIGTERM: stop after this iteration, keeping its image

  def finish(status: str, output: str | None, **extra):
    rundir.finish(workdir, info, status, start, output=output,
                  iterations_done=last.get('iteration', 0), final_losses=last.get('losses'),
                  **extra)

  try:
    with MetricWriter(workdir, tensorboard=bool(config.tensorboard)) as writer, \
        StopRequest((signal.SIGINT, signal.SIGTERM)) as stop:
      result = transfer.run(stylizer, plan, on_progress)
  except NonFiniteLossError as e:
    progress = last.get('progress')
    good = e.last_good
    rgb = progress.to_rgb(good) if progress else stylizer.deprocess(good)
    images.save(workdir / 'last_good.png', rgb)
    finish('non_finite', 'last_good.png', failed_step=e.step)
    raise NonFiniteLossError(f'{e} (saved {workdir / "last_good.png"})', e.step) from None
  except KeyboardInterrupt:
    if 'progress' in last:
      images.save(workdir / 'interrupted.png', last['progress'].image())
    finish('interrupted', 'interrupted.png' if 'progress' in last else None)
    raise
  except BaseException:
    finish('failed', None)
    raise
  finally:
    bar.close()
  try:
    images.save(workdir / 'final.png', result)
  except BaseException:
    finish('failed', None)
    raise
  finish('completed', 'final.png')
  return info


def load_result(workdir: str | Path) -> np.ndarray:
  """The result of a finished run, ``workdir/final.png``, as float32 RGB [0, 1] (H, W, 3)."""
  return images.load(str(Path(workdir) / 'final.png'))


INTERRUPTED = 'the last image and run_info.json are'


def summary(info: dict, workdir: str) -> str:
  """One line for the CLI: status, output image, wall time and final total loss."""
  return (f'{info["status"]}: {workdir}/{info["output"]} '
          f'({info["wall_time_s"]} s, final loss {info["final_losses"]["total"]:.6g})')
