"""The feed-forward task: trains a style network (Johnson), texture network (Ulyanov) or
AdaIN decoder into a run directory, resuming from its checkpoints if any.

    jaxstyle run johnson[:VARIANTS] --workdir runs/NAME [--config.KEY=VALUE ...]

The run directory is ``jaxstyle.runtime.trainloop``'s (config.json, run_info.json,
metrics.jsonl with the total and per-layer losses, tensorboard/, checkpoints/) plus
  samples/step_NNNNNNN.png   fixed validation images stylised (or fixed-noise textures)
                             every log.sample_every steps
  model.jaxstyle             the trained network with its config (written at the end;
                             ``jaxstyle stylise --model DIR``)
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxstyle import data
from jaxstyle.errors import ConfigError
from jaxstyle.feedforward import apply, modelfile
from jaxstyle.feedforward import train as ff
from jaxstyle.gan.train import count_params
from jaxstyle.gatys.transfer import resolve_layer_weights
from jaxstyle.io import figures, images
from jaxstyle.kernels import select
from jaxstyle.perceptual import vgg, weights
from jaxstyle.runtime import determinism, parallel, precision, run_info, rundir, trainloop
from jaxstyle.runtime.config import split_list
from jaxstyle.runtime.rundir import check_writable

ADAIN_STYLE_LAYERS = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1')


def net_args(config) -> dict:
  """Constructor arguments of the network named by ``config.model`` (what
  ``SavedModel.net`` stores and ``apply.build_net`` takes). Raises ConfigError for a
  ``model.kind`` other than 'johnson', 'texture' or 'adain'.
  """
  m = config.model
  if m.kind == 'johnson':
    return dict(widths=[int(w) for w in split_list(m.widths)], num_residual=int(m.num_residual),
                output=m.output, pixel_scale=255.0)
  if m.kind == 'texture':
    return dict(num_scales=int(m.num_scales), channels_per_scale=int(m.channels_per_scale),
                noise_channels=int(m.noise_channels), norm=m.norm)
  if m.kind == 'adain':
    return dict(widths=[int(w) for w in split_list(m.widths)])
  raise ConfigError(f"model.kind must be one of {', '.join(ff.KINDS)}, got {m.kind!r}")


def _content_loader(c, global_batch: int, name: str):
  """Loader of random crops from a TFDS dataset or an image folder (``c``: a data config)."""
  if c.kind not in ('tfds', 'folder'):
    raise ConfigError(f"{name}.kind must be 'tfds' or 'folder', got {c.kind!r}")
  source = data.source_from_config(c)
  # Bad images found by data.verify_images=upfront (lazily found ones warn when met).
  skipped = getattr(source, 'skipped', [])
  if skipped:
    warnings.warn(f'skipped {len(skipped)} unreadable or too small image(s) in {c.path} '
                  f'(data.on_bad_image=skip); first: {skipped[0]}', stacklevel=2)
  crops = data.RandomCrops(int(c.crop), int(c.resize), int(c.order_seed))  # uint8 crops
  loader = data.Loader(source, global_batch, 1, int(c.order_seed), crops,
                       jax.process_index(), jax.process_count(), **data.loader_options(c))
  return source, loader, skipped


def _encoder(config, dtype):
  w = weights.load(config.weights, config.weights_path or None, bool(config.weights_verify))
  impl = select.vgg_conv(str(config.get('vgg_conv_impl', 'auto')))
  encoder = ff.Encoder(w.arch, tuple(w.preprocessing.mean_bgr), 'max', impl, dtype)
  return w, encoder, ff.frozen_variables(w.params, w.arch, impl)


def kernels_from_config(config) -> dict:
  """The resolved kernel formulations of a feed-forward run, as run_info.json records
  them: the loss network's (``vgg_conv_impl``) and, for Johnson and AdaIN networks, the
  network's at inference (``model.conv_impl``: previews, ``jaxstyle stylise``; training
  uses XLA's). Raises ConfigError naming the key for a value that is not a choice."""
  ops = {'vgg_conv': select.vgg_conv(str(config.get('vgg_conv_impl', 'auto')))}
  if config.model.kind != 'texture':  # the texture network has no kn2row-shaped layers
    ops['feedforward_conv'] = select.feedforward_conv(str(config.model.get('conv_impl', 'auto')))
  return select.record(**ops)


def _check_multiple(value: int, multiple: int, what: str, kind: str):
  if value % multiple:
    raise ConfigError(f'{what} ({value}) must be a multiple of {multiple} for the {kind} '
                      f'network')


def build(config: ml_collections.ConfigDict):
  """Everything a run needs, with every input checked before anything is written."""
  if int(config.train.num_steps) < 0:
    raise ConfigError(f'train.num_steps must be >= 0, got {config.train.num_steps}')
  kind = config.model.kind
  args = net_args(config)
  global_batch = int(config.train.batch_size)
  parallel.check_batch(global_batch)
  policy = precision.from_config(config)
  kernels = kernels_from_config(config)
  w, encoder, enc_vars = _encoder(config, policy.compute_dtype)
  tx = ff.make_optimizer(config.optimizer)
  info = {'weights': w.source.name, 'precision': policy.record(), 'kernels': kernels}
  closers = []
  if kind in ('johnson', 'texture'):
    l = config.loss
    content_layers = split_list(l.content_layers) if kind == 'johnson' else ()
    style_layers = split_list(l.style_layers)
    vgg.check_layers(w.arch, content_layers + style_layers)
    layer_weights = resolve_layer_weights(l.style_layer_weights, style_layers)
    for name in ('content_weight', 'style_weight', 'tv_weight'):
      if not float(l[name]) >= 0:
        raise ConfigError(f'loss.{name} must be >= 0, got {l[name]}')
    loss = ff.Perceptual(content_layers, style_layers, layer_weights,
                         float(l.content_weight) if kind == 'johnson' else 0.0,
                         float(l.style_weight), float(l.tv_weight))
    style = images.load(config.style_image, 'style_image')
    style = images.resize(style, images.size_for(style.shape[:2], int(config.style_size)))
    grams = jax.jit(loss.style_targets, static_argnums=0)(encoder, enc_vars, style)
    consts = (enc_vars, grams)
    info['style_image'] = config.style_image
  if kind == 'johnson':
    crop = int(config.data.crop)
    _check_multiple(crop, 4, 'data.crop', kind)
    task = ff.JohnsonTask(apply.build_net(kind, args, dtype=policy.compute_dtype), encoder, loss)
    source, loader, dropped = _content_loader(config.data, global_batch, 'data')
    closers.append(loader.close)
    batch = loader.batch
    info.update(data=source.name, skipped_images=len(dropped))
  elif kind == 'texture':
    crop = int(config.texture_size)
    _check_multiple(crop, 2 ** (int(args['num_scales']) - 1), 'texture_size', kind)
    task = ff.TextureTask(apply.build_net(kind, args, axis_name=parallel.AXIS,
                                          dtype=policy.compute_dtype), encoder, loss, crop)
    rows = global_batch // jax.process_count()
    batch = lambda step: np.zeros((1, rows), np.int32)  # noqa: E731  (noise is drawn in-step)
    info['data'] = 'noise'
  else:
    crop = int(config.data.crop)
    _check_multiple(crop, 8, 'data.crop', kind)
    if int(config.style_data.crop) != crop:
      raise ConfigError(f'style_data.crop ({config.style_data.crop}) must equal data.crop '
                        f'({crop})')
    task = ff.AdaINTask(apply.build_net(kind, args, dtype=policy.compute_dtype), encoder,
                        ADAIN_STYLE_LAYERS,
                        float(config.loss.content_weight), float(config.loss.style_weight))
    vgg.check_layers(w.arch, ADAIN_STYLE_LAYERS)
    source, content_loader, d1 = _content_loader(config.data, global_batch, 'data')
    style_source, style_loader, d2 = _content_loader(config.style_data, global_batch,
                                                     'style_data')
    closers += [content_loader.close, style_loader.close]
    batch = lambda step: np.stack([content_loader.batch(step), style_loader.batch(step)], 2)  # noqa: E731
    consts = (enc_vars,)
    info.update(data=source.name, style_data=style_source.name,
                skipped_images=len(d1) + len(d2))
  trainer = ff.Trainer(task, tx, crop)
  return trainer, consts, batch, closers, info, w


class _StepWithConsts:
  """``DataParallel`` with the frozen inputs bound: the ``step_fn`` trainloop expects."""

  def __init__(self, dp: parallel.DataParallel, consts):
    self.dp, self.consts = dp, dp.put_state(consts)
    self.put_state = dp.put_state

  def __call__(self, state, batch):
    return self.dp(state, batch, *self.consts)


def saved_model(config, state, w, step: int) -> modelfile.SavedModel:
  """The model file contents for training state ``state`` at ``step``: parameters,
  model state, the config and, for AdaIN, the encoder's VGG weights up to conv4_1 (``w``:
  the loaded ``LoadedWeights``), so the file is self-contained.
  """
  kind = config.model.kind
  variables = {'params': state.params, 'model_state': state.model_state}
  meta = {'config': config.to_dict(), 'step': int(step), 'weights': w.source.name}
  if kind == 'adain':
    keep = vgg.conv_names(w.arch)[:vgg.conv_names(w.arch).index('conv4_1') + 1]
    variables['encoder'] = {k: v for k, v in w.params.items()
                            if k.rsplit('_', 1)[0] in keep}
    meta['encoder'] = {'arch': w.arch, 'mean_bgr': list(w.preprocessing.mean_bgr),
                       'pooling': 'max'}
  return modelfile.SavedModel(kind, net_args(config), jax.device_get(variables), meta)


def _preview_inputs(config, kind):
  """Fixed validation images: log.preview_images, else centre crops of the dataset."""
  size = int(config.log.preview_size)
  specs = split_list(config.log.get('preview_images', ''))
  if specs:
    imgs = [images.load(s, 'log.preview_images') for s in specs]
  else:
    # Only the first images are read: the training loader's source did any upfront check.
    src = data.source_from_config(ml_collections.ConfigDict(
        {**config.data.to_dict(), 'verify_images': 'lazy'}))
    n = min(int(config.log.num_preview), len(src))
    imgs = [np.asarray(im, np.float32) / 255.0 for im in src.get(np.arange(n))]
    imgs = [np.repeat(im[..., None], 3, -1) if im.ndim == 2 else im[..., :3] for im in imgs]
  out = []
  for im in imgs:
    h, w = im.shape[:2]
    s = min(h, w)
    sq = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    out.append(np.asarray(images.resize(sq, (size, size))))
  return out


def make_preview(config, w):
  """A function host_state -> RGB figure, compiled once and reused at every preview."""
  kind = config.model.kind
  placeholder = None

  def model_for(state):
    nonlocal placeholder
    m = saved_model(config, state, w, 0)
    if placeholder is None:
      placeholder = apply.load_model(m)
    placeholder.variables = jax.tree.map(np.asarray, {'params': m.variables['params'],
                                                      **m.variables['model_state']})
    return placeholder

  if kind == 'texture':
    size = 2 * int(config.texture_size)

    def preview(state):
      x = model_for(state).sample(int(config.log.num_preview), (size, size), seed=int(config.seed))
      return figures.image_grid(x, (0.0, 1.0), columns=len(x))
    return preview

  contents = _preview_inputs(config, kind)
  if kind == 'johnson':
    def preview(state):
      outs = model_for(state)(contents)
      return figures.image_grid(np.stack(contents + outs), (0.0, 1.0), columns=len(contents))
    return preview

  style_cfg = config.style_data
  styles = _preview_inputs(ml_collections.ConfigDict({
      'log': config.log, 'data': style_cfg}), kind)

  def preview(state):
    m = model_for(state)
    outs = [m(c, [s]) for c, s in zip(contents, styles)]
    return figures.image_grid(np.stack(contents + styles + outs), (0.0, 1.0),
                              columns=len(contents))
  return preview


def run(config: ml_collections.ConfigDict, workdir: str | Path, show_progress: bool = True) -> dict:
  """Trains the network ``config`` describes in ``workdir`` (resuming from its checkpoints)
  and writes ``workdir/model.jaxstyle`` at the end.

  Returns the run_info dict (status 'completed', wall time, final metrics, 'model_file').
  Raises ConfigError/ImageError for bad settings or data before training starts; other
  failures are recorded in run_info.json and propagate.
  """
  # Before JAX starts its backend: the thread pool and XLA flags are read then.
  repro = determinism.apply_config(config)
  parallel.initialize_distributed()
  workdir = Path(workdir)
  start_time = time.time()
  info = run_info.collect(int(config.seed), determinism=repro)
  check_writable(workdir)
  trainer, consts, batch, closers, extra, w = build(config)
  try:
    # Content and style crops arrive as uint8 and are scaled to [0, 1] on the device.
    step_fn = _StepWithConsts(parallel.DataParallel(data.normalizing(trainer.step, '[0,1]'),
                                                    config.parallel.mode,
                                                    num_consts=len(consts)), consts)
    state = trainer.init(int(config.seed))
    extra['params'] = count_params(state.params)
    preview = make_preview(config, w)
    job = trainloop.Job(state=state, step_fn=step_fn, batch=batch,
                        examples_per_step=int(config.train.batch_size), preview=preview,
                        bar_keys=('total',), info=extra)
    state, info, writer, ckpt = trainloop.train(config, workdir, job, info, start_time,
                                                show_progress)
  finally:
    for close in closers:
      close()
  try:
    with rundir.status_on_error(workdir, info, start_time, writer):
      if jax.process_index() == 0:
        path = modelfile.save(workdir / f'model{modelfile.SUFFIX}',
                              saved_model(config, state, w, int(state.step)))
        info['model_file'] = str(path)
  finally:
    parallel.barrier('jaxstyle_feedforward_model_file')  # reached even if process 0 failed
    ckpt.close()
  return rundir.finish(workdir, info, 'completed', start_time, writer)


INTERRUPTED = 'a checkpoint of the last completed step (rerun the same command to resume) is'


def summary(info: dict, workdir: str) -> str:
  """One line for the CLI: status, run directory, step, wall time, final loss, model file."""
  m = info.get('final_metrics', {})
  loss = f', loss {m["total"]:.5g}' if 'total' in m else ''
  return (f'{info["status"]}: {workdir} (step {info["num_steps"]}, {info["wall_time_s"]} s'
          f'{loss}); model: {info.get("model_file", "-")}')
