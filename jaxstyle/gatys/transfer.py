"""Gatys et al. image-optimisation style transfer and texture synthesis.

The image is optimised in the input space of the VGG weights (Caffe BGR, 0..255,
mean subtracted) against content features and blended style Gram matrices.
``Stylizer`` is the reusable core: targets, a jitted objective and the optimisers.
``stylize`` adds what users of neural-style rely on: several style images with
blend weights, style scale, colour preservation, coarse-to-fine scales, and spatial
control with guided Gram matrices (a style per region; Gatys et al. 2017).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxstyle.errors import ConfigError, ImageError, NonFiniteLossError
from jaxstyle.gatys.lbfgs import LBFGS, Objective
from jaxstyle.io import images
from jaxstyle.kernels import select
from jaxstyle.perceptual import color, losses, vgg
from jaxstyle.perceptual.weights import LoadedWeights

OPTIMIZERS = ('lbfgs', 'adam', 'lbfgs_optax')
INITS = ('content', 'noise', 'style', 'image')
PRESERVE_COLORS = ('none', 'luminance', 'color_match')
GUIDE_MODES = ('simple', 'inside')


@dataclasses.dataclass(frozen=True)
class Region:
  """Spatial control: in the output region ``mask`` (H x W, values in [0, 1]) the style
  is style image number ``style``, or only its part under ``style_mask`` if given."""
  mask: np.ndarray
  style: int = 0
  style_mask: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that defines the optimisation problem; see experiments/configs/gatys.py."""
  content_layers: tuple[str, ...] = ('relu4_2',)
  style_layers: tuple[str, ...] = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
  style_layer_weights: tuple[float, ...] | str = 'inv_channels_sq'
  content_weight: float = 1.0
  style_weight: float = 1e3
  tv_weight: float = 0.0
  loss_form: str = 'mean'
  pooling: str = 'max'
  optimizer: str = 'lbfgs'
  iterations: int = 500
  learning_rate: float = 10.0
  lbfgs_memory: int = 100
  max_linesearch_steps: int = 20
  init: str = 'content'
  init_noise_seed: int = 0
  vgg_conv_impl: str = 'auto'   # 'auto' (the backend's, kernels.select) | 'winograd' | 'xla'

  def validate(self, arch: str) -> None:
    """Raises ConfigError, naming the field, if any setting is invalid for VGG ``arch``
    (unknown layers, negative or non-finite weights, unknown option values, counts < 1).
    """
    vgg.check_layers(arch, self.content_layers + self.style_layers)
    if not self.style_layers:
      raise ConfigError('style_layers is empty: name at least one layer, e.g. relu1_1')
    for name in ('content_weight', 'style_weight', 'tv_weight', 'learning_rate'):
      value = getattr(self, name)
      if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f'{name} must be a finite number >= 0, got {value}')
    weights = resolve_layer_weights(self.style_layer_weights, self.style_layers)
    if any(not (math.isfinite(w) and w >= 0) for w in weights):
      raise ConfigError(f'style_layer_weights must be finite and >= 0, got {weights}')
    for name, allowed in (('loss_form', losses.FORMS), ('pooling', vgg.POOLINGS),
                          ('optimizer', OPTIMIZERS), ('init', INITS)):
      if getattr(self, name) not in allowed:
        raise ConfigError(f'{name} must be one of {allowed}, got {getattr(self, name)!r}')
    if self.iterations < 0 or self.lbfgs_memory < 1 or self.max_linesearch_steps < 1:
      raise ConfigError('iterations must be >= 0, lbfgs_memory and max_linesearch_steps >= 1')
    select.check('vgg_conv', self.vgg_conv_impl)


def resolve_layer_weights(spec, layers: Sequence[str]) -> tuple[float, ...]:
  """'uniform' -> 1/L each (the paper); 'inv_channels_sq' -> 1e3/N_l^2 (the authors'
  code); or an explicit sequence, one weight per style layer."""
  if isinstance(spec, str):
    if spec == 'uniform':
      return tuple(1.0 / len(layers) for _ in layers)
    if spec == 'inv_channels_sq':
      return tuple(1e3 / vgg.channels(layer) ** 2 for layer in layers)
    try:
      spec = [float(v) for v in spec.split(',')]
    except ValueError:
      raise ConfigError(f"style_layer_weights must be 'uniform', 'inv_channels_sq' or "
                        f'comma-separated numbers, got {spec!r}') from None
  weights = tuple(float(w) for w in spec)
  if len(weights) != len(layers):
    raise ConfigError(f'style_layer_weights has {len(weights)} values for '
                      f'{len(layers)} style layers')
  return weights


class Targets(NamedTuple):
  """What the objective compares against, in the network's feature space (see the
  field comments); built by ``Stylizer.targets``.
  """
  content: dict    # layer -> content features (1, h, w, c)
  style: dict      # layer -> blended normalised Gram matrix (1, c, c), or one per region (R, c, c)
  guides: dict = {}  # layer -> the regions' guidance channels at that layer (R, h, w)


def layer_guide(mask_HW, size_hw, mode: str) -> jax.Array:
  """A region mask at a layer's resolution: 'simple' downsamples it (Gatys et al. 2017);
  'inside' keeps only positions whose whole footprint lies inside the region."""
  m = jax.image.resize(jnp.asarray(mask_HW, jnp.float32), tuple(size_hw), 'linear',
                       antialias=True)
  m = jnp.clip(m, 0.0, 1.0)
  return (m >= 0.99).astype(jnp.float32) if mode == 'inside' else m


def min_side(layers: Sequence[str]) -> int:
  """Smallest image side for which every layer still has at least one position."""
  return max(vgg.downsampling(layer) for layer in layers)


def check_size(shape_hw, layers: Sequence[str], what: str) -> None:
  """Raises ImageError if an image of ``shape_hw`` (h, w) is too small for the deepest
  of ``layers`` (``what`` names the image in the message).
  """
  need = min_side(layers)
  if min(shape_hw) < need:
    deepest = max(layers, key=vgg.downsampling)
    raise ImageError(f'{what} is {shape_hw[0]}x{shape_hw[1]} px, but layer {deepest} '
                     f'needs at least {need} px per side; use a larger image_size '
                     f'(or style_scale)')


class Stylizer:
  """Jitted objective and optimisers for one (weights, settings) pair."""

  def __init__(self, weights: LoadedWeights, settings: Settings):
    settings.validate(weights.arch)
    self.weights = weights
    self.settings = settings
    # Resolved once: the formulation a run records is the one its objective runs.
    self.vgg_conv = select.vgg_conv(settings.vgg_conv_impl)
    self.model = vgg.VGG(arch=weights.arch, pooling=settings.pooling, conv_impl=self.vgg_conv)
    self.layer_weights = resolve_layer_weights(settings.style_layer_weights,
                                               settings.style_layers)
    # Frozen weights and everything derived from them alone, computed once.
    self.variables = {'params': weights.params}
    if self.vgg_conv == 'winograd':
      self.variables['derived'] = vgg.derive(weights.params, weights.arch)
    self._features = jax.jit(self._features_impl, static_argnames='layers')
    self._value_aux_grad = jax.jit(self._value_aux_grad_impl)
    self._terms = jax.jit(self._objective)
    # The L-BFGS evaluation program, shared by every optimize() call: compiled once per size.
    self._lbfgs_objective = Objective(self._value_aux_grad_impl, settings.lbfgs_memory)

  # -- images <-> network input ------------------------------------------------
  def preprocess(self, rgb_HWC) -> jax.Array:
    """RGB [0, 1] (H, W, 3) -> network input (1, H, W, 3) in the weights'
    convention (Caffe BGR, 0..255, mean subtracted).
    """
    return self.weights.preprocessing(jnp.asarray(rgb_HWC, jnp.float32)[None])

  def deprocess(self, x_1HWC) -> np.ndarray:
    """Network input (1, H, W, 3) -> numpy RGB (H, W, 3), clipped to [0, 1]."""
    return np.clip(np.asarray(self.weights.preprocessing.invert(x_1HWC)[0]), 0.0, 1.0)

  # -- targets and objective ---------------------------------------------------
  def _features_impl(self, variables, x, layers):
    return self.model.apply(variables, x, layers)

  def layer_shapes(self, size_hw, layers: Sequence[str]) -> dict:
    """(h, w) of each layer's feature map for an input of ``size_hw``."""
    x = jax.ShapeDtypeStruct((1, *size_hw, 3), jnp.float32)
    shapes = jax.eval_shape(lambda v, x: self._features_impl(v, x, tuple(layers)),
                            self.variables, x)
    return {layer: tuple(shapes[layer].shape[1:3]) for layer in layers}

  def targets(self, content_rgb, style_rgbs: Sequence, blend: Sequence[float],
              regions: Sequence[Region] = (), guide_mode: str = 'simple',
              output_hw=None) -> Targets:
    """Content features and the blend-weighted average of the style Gram matrices, or,
    with ``regions``, one guided Gram matrix per region and the output's guides."""
    s = self.settings
    content = {}
    if content_rgb is not None and s.content_weight > 0:
      check_size(content_rgb.shape[:2], s.content_layers, 'content image')
      content = self._features(self.variables, self.preprocess(content_rgb),
                               tuple(s.content_layers))
    if regions:
      return self._guided_targets(content, style_rgbs, regions, guide_mode, output_hw)
    total = float(sum(blend))
    style = {}
    for rgb, b in zip(style_rgbs, blend):
      check_size(rgb.shape[:2], s.style_layers, 'style image')
      feats = self._features(self.variables, self.preprocess(rgb), tuple(s.style_layers))
      for layer in s.style_layers:
        g = losses.gram(feats[layer]) * (b / total)
        style[layer] = style[layer] + g if layer in style else g
    return Targets(content, style)

  def _guided_targets(self, content, style_rgbs, regions, mode, output_hw) -> Targets:
    s = self.settings
    feats = []
    for rgb in style_rgbs:
      check_size(rgb.shape[:2], s.style_layers, 'style image')
      feats.append(self._features(self.variables, self.preprocess(rgb), tuple(s.style_layers)))
    out_shapes = self.layer_shapes(output_hw, s.style_layers)
    style, guides = {}, {}
    for layer in s.style_layers:
      grams, out_guides = [], []
      for r, region in enumerate(regions):
        f = feats[region.style][layer]
        style_guide = jnp.ones(f.shape[1:3]) if region.style_mask is None else \
            layer_guide(region.style_mask, f.shape[1:3], mode)
        out_guide = layer_guide(region.mask, out_shapes[layer], mode)
        for what, g in (('mask', out_guide), ('style mask', style_guide)):
          if float(jnp.sum(g)) <= 0:
            raise ImageError(f'region {r + 1}: its {what} is empty at layer {layer} '
                             f'({g.shape[0]}x{g.shape[1]}); enlarge the region, use '
                             f"guide_mode='simple', or drop the deeper style layers")
        grams.append(losses.guided_gram(f, style_guide[None])[0])
        out_guides.append(out_guide)
      style[layer] = jnp.stack(grams)
      guides[layer] = jnp.stack(out_guides)
    return Targets(content, style, guides)

  def _objective(self, x, variables, targets: Targets):
    s = self.settings
    layers = tuple(dict.fromkeys(tuple(targets.content) + s.style_layers))
    feats = self.model.apply(variables, x, layers)
    terms = {}
    total = 0.0
    for layer, target in targets.content.items():
      terms[f'content/{layer}'] = losses.content_loss(feats[layer], target, s.loss_form)
      total += s.content_weight * terms[f'content/{layer}']
    for layer, w in zip(s.style_layers, self.layer_weights):
      if layer in targets.guides:
        terms[f'style/{layer}'] = losses.guided_style_layer_loss(
            feats[layer], targets.guides[layer], targets.style[layer], s.loss_form)
      else:
        terms[f'style/{layer}'] = losses.style_layer_loss(feats[layer], targets.style[layer],
                                                          s.loss_form)
      total += s.style_weight * w * terms[f'style/{layer}']
    if s.tv_weight > 0:
      terms['tv'] = losses.tv_loss(x, s.loss_form)
      total += s.tv_weight * terms['tv']
    terms['total'] = total
    return total, terms

  def _value_aux_grad_impl(self, x, variables, targets):
    (value, terms), grad = jax.value_and_grad(self._objective, has_aux=True)(
        x, variables, targets)
    return value, terms, grad

  def loss_terms(self, x, targets: Targets) -> dict:
    """Loss terms at network input ``x``: 'content/<layer>', 'style/<layer>', 'tv'
    (if weighted) and 'total', as device scalars (unweighted per layer, weighted in 'total').
    """
    return self._terms(x, self.variables, targets)[1]

  # -- initialisation ------------------------------------------------------------
  def initial_image(self, shape_hw, content_rgb=None, style_rgb=None, init_rgb=None,
                    seed: int = 0) -> jax.Array:
    """The starting point in network input space, (1, H, W, 3) with (H, W) =
    ``shape_hw``, as ``settings.init`` asks: the content image, a resized style or init
    image, or uniform noise from ``seed`` ('noise', or 'content' without a content image).
    Raises ConfigError if ``init`` needs an image that was not given.
    """
    init = self.settings.init
    if init == 'content' and content_rgb is not None:
      rgb = content_rgb
    elif init == 'style' and style_rgb is not None:
      rgb = images.resize(style_rgb, shape_hw)
    elif init == 'image' and init_rgb is not None:
      rgb = images.resize(init_rgb, shape_hw)
    elif init in ('noise', 'content'):  # 'content' without a content image: texture synthesis
      rgb = jax.random.uniform(jax.random.key(seed), (*shape_hw, 3))
    else:
      raise ConfigError(f'init={init!r} needs an image it was not given')
    return self.preprocess(rgb)

  # -- optimisation ------------------------------------------------------------
  def optimize(self, x0, targets: Targets, iterations: int,
               callback: Callable[[int, jax.Array, dict, int], None] | None = None,
               first_iteration: int = 0) -> jax.Array:
    """Runs ``iterations`` optimiser iterations from ``x0``.

    ``callback(iteration, x, terms, num_evals)`` is called after each iteration with
    the loss terms of the new iterate as device scalars (1-based iteration count, offset
    by ``first_iteration``); fetch them with one ``jax.device_get`` when they are logged,
    as each conversion is a blocking device round trip. Raises NonFiniteLossError,
    carrying the last finite iterate in ``.last_good``, if the objective stops being finite.
    """
    s = self.settings
    variables = self.variables
    last_good = x0

    def check(it, value, x):
      if not math.isfinite(value):
        err = NonFiniteLossError(
            f'loss became {value} at iteration {it}; kept the last finite image. Lower '
            f'learning_rate or the loss weights, or check the inputs', step=it)
        err.last_good = last_good
        raise err

    if s.optimizer == 'lbfgs':
      # One device call per objective evaluation (lbfgs.Objective).
      solver = LBFGS(self._lbfgs_objective, x0, max_linesearch_steps=s.max_linesearch_steps,
                     args=(variables, targets))
      check(first_iteration, solver.current.value, x0)
      for i in range(1, iterations + 1):
        it = solver.step()
        if solver.stalled:  # no decrease even along the gradient: converged in float32
          break
        check(first_iteration + i, it.value, it.x)
        last_good = it.x
        if callback:
          callback(first_iteration + i, it.x, it.aux, solver.num_evals)
      return last_good

    if s.optimizer == 'adam':
      opt = optax.adam(s.learning_rate)
    else:  # 'lbfgs_optax': optax.lbfgs with its in-graph zoom line search
      opt = optax.lbfgs(memory_size=s.lbfgs_memory, linesearch=optax.scale_by_zoom_linesearch(
          max_linesearch_steps=s.max_linesearch_steps))
    step = jax.jit(_first_order_step(self, opt, s.optimizer))
    state = opt.init(x0)
    x = x0
    for i in range(1, iterations + 1):
      x_new, state, terms = step(x, state, variables, targets)
      # The loss is that of the point differentiated, i.e. before the update: once it
      # is found finite, that point is the last good image.
      check(first_iteration + i, float(terms['total']), x)
      last_good = x
      x = x_new
      if callback:
        callback(first_iteration + i, x, terms, i)
    return x


def _first_order_step(stylizer: Stylizer, opt, kind: str):
  if kind == 'adam':
    def adam_step(x, state, params, targets):
      (_, terms), grad = jax.value_and_grad(stylizer._objective, has_aux=True)(
          x, params, targets)
      updates, state = opt.update(grad, state, x)
      return optax.apply_updates(x, updates), state, terms
    return adam_step

  def lbfgs_optax_step(x, state, params, targets):
    value_fn = lambda z: stylizer._objective(z, params, targets)[0]  # noqa: E731
    value, grad = optax.value_and_grad_from_state(value_fn)(x, state=state)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=value_fn)
    x = optax.apply_updates(x, updates)
    terms = stylizer._objective(x, params, targets)[1]
    return x, state, terms
  return lbfgs_optax_step


@dataclasses.dataclass
class Progress:
  """What ``stylize`` reports after every iteration."""
  scale: int            # index of the current scale, 0 = coarsest
  size_hw: tuple        # output size at this scale
  iteration: int        # iterations done so far, over all scales
  num_evals: int        # objective evaluations so far at this scale
  terms: dict           # loss terms of the current image (device scalars)
  x: jax.Array          # current image in network input space
  to_rgb: Callable      # x -> RGB [0, 1] with colour handling applied

  def image(self) -> np.ndarray:
    """The current image as numpy RGB [0, 1] (H, W, 3), colour handling applied."""
    return self.to_rgb(self.x)


def output_sizes(shape_hw, image_size: int, num_scales: int) -> list[tuple[int, int]]:
  """Coarse-to-fine sizes: longest side image_size / 2^k for k = num_scales-1 .. 0."""
  return [images.size_for(shape_hw, max(1, round(image_size / 2 ** k)))
          for k in reversed(range(num_scales))]


@dataclasses.dataclass
class Plan:
  """Validated inputs of a ``stylize`` run, one entry per scale."""
  sizes: list            # (h, w) per scale, coarse to fine
  contents: list         # content image per scale (None for texture synthesis)
  styles: list           # list of style images per scale
  blend: list
  final_content: object  # content at the final size (for colour restoration)
  preserve_colors: str
  init_image: object
  regions: list = dataclasses.field(default_factory=list)  # per scale: Regions at that size
  guide_mode: str = 'simple'


def prepare(stylizer: Stylizer, content, styles: Sequence, *, blend: Sequence[float] = (),
            image_size: int = 512, num_scales: int = 1, style_scale: float = 1.0,
            preserve_colors: str = 'none', init_image=None,
            regions: Sequence[Region] = (), guide_mode: str = 'simple') -> Plan:
  """Checks every input and resizes the images for each scale; computes nothing else.

  Args:
    stylizer: weights and loss settings.
    content: RGB [0, 1] array (H, W, 3) at any size, or None for texture synthesis.
    styles: one or more RGB style images; their Gram matrices are averaged with
      ``blend`` weights (default equal).
    image_size: longest side of the output.
    num_scales: coarse-to-fine passes, each at twice the previous size, the result
      of one (upsampled) initialising the next.
    style_scale: style images are resized to this fraction of the output's longest side.
    preserve_colors: 'luminance' (optimise luminance only, keep the content's
      chrominance; Gatys et al. 2017), 'color_match' (first give the style images the
      content's colour mean and covariance), or 'none'.
    init_image: RGB image for ``init='image'``.
    regions: spatial control (Gatys et al. 2017): each Region's output mask gets its own
      style image (its masks are resized with the images; ``blend`` is then unused).
    guide_mode: how masks reach each layer's resolution, 'simple' or 'inside'.
  """
  if not styles:
    raise ConfigError('give at least one style image')
  blend = list(blend) or [1.0] * len(styles)
  if len(blend) != len(styles) or any(not (math.isfinite(b) and b >= 0) for b in blend) \
      or sum(blend) <= 0:
    raise ConfigError(f'style_blend_weights must be {len(styles)} finite numbers >= 0 '
                      f'with a positive sum, got {blend}')
  if preserve_colors not in PRESERVE_COLORS:
    raise ConfigError(f'preserve_colors must be one of {PRESERVE_COLORS}, got {preserve_colors!r}')
  if not (math.isfinite(style_scale) and style_scale > 0):
    raise ConfigError(f'style_scale must be > 0, got {style_scale}')
  if image_size < 1 or num_scales < 1:
    raise ConfigError('image_size and num_scales must be >= 1')
  if guide_mode not in GUIDE_MODES:
    raise ConfigError(f'guide_mode must be one of {GUIDE_MODES}, got {guide_mode!r}')
  for r, region in enumerate(regions):
    if not 0 <= region.style < len(styles):
      raise ConfigError(f'region {r + 1} uses style image {region.style + 1}, but there are '
                        f'{len(styles)}; give one style image per region or fix region_styles')
    for what, m in (('mask', region.mask), ('style mask', region.style_mask)):
      if m is not None and (np.ndim(m) != 2 or not np.all(np.isfinite(m))
                            or np.min(m) < 0 or np.max(m) > 1 or np.max(m) == 0):
        raise ImageError(f'region {r + 1}: the {what} must be a non-empty H x W array in '
                         f'[0, 1] (a grayscale image, white = inside)')
  s = stylizer.settings
  if s.init == 'image' and init_image is None:
    raise ConfigError("init='image' needs init_image")
  layers = tuple(s.content_layers) + tuple(s.style_layers)
  ref_shape = (content if content is not None else styles[0]).shape[:2]
  sizes = output_sizes(ref_shape, image_size, num_scales)
  contents, styles_per_scale, regions_per_scale = [], [], []
  for k, size in enumerate(sizes):
    check_size(size, layers, f'the output at scale {k + 1} of {num_scales}')
    content_k = images.resize(content, size) if content is not None else None
    style_side = max(1, round(max(size) * style_scale))
    styles_k = [images.resize(st, images.size_for(st.shape[:2], style_side)) for st in styles]
    for st in styles_k:
      check_size(st.shape[:2], s.style_layers, f'a style image (at scale {k + 1})')
    if preserve_colors == 'luminance' and content_k is not None:
      styles_k = [color.match_luminance(st, content_k) for st in styles_k]
      content_k = color.gray_rgb(color.luminance(content_k))
    elif preserve_colors == 'color_match' and content_k is not None:
      styles_k = [color.match_color(st, content_k) for st in styles_k]
    contents.append(content_k)
    styles_per_scale.append(styles_k)
    regions_per_scale.append([
        Region(_resize_mask(rg.mask, size), rg.style,
               None if rg.style_mask is None else
               _resize_mask(rg.style_mask, styles_k[rg.style].shape[:2]))
        for rg in regions])
  final_content = images.resize(content, sizes[-1]) if content is not None else None
  return Plan(sizes, contents, styles_per_scale, blend, final_content, preserve_colors,
              init_image, regions_per_scale, guide_mode)


def _resize_mask(mask_HW, size_hw) -> jax.Array:
  return images.resize(jnp.asarray(mask_HW, jnp.float32)[..., None], size_hw)[..., 0]


def run(stylizer: Stylizer, plan: Plan,
        callback: Callable[[Progress], None] | None = None) -> np.ndarray:
  """Optimises through the scales of ``plan``; returns the final RGB image in [0, 1]."""
  s = stylizer.settings

  def to_rgb(x):
    rgb = stylizer.deprocess(x)
    if plan.preserve_colors == 'luminance' and plan.final_content is not None:
      content = images.resize(plan.final_content, rgb.shape[:2])
      rgb = np.asarray(color.restore_colors(rgb, content))
    return rgb

  x = None
  iteration = 0
  for k, size in enumerate(plan.sizes):
    content_k, styles_k = plan.contents[k], plan.styles[k]
    targets = stylizer.targets(content_k, styles_k, plan.blend,
                               plan.regions[k] if plan.regions else (), plan.guide_mode, size)
    if x is None:
      x = stylizer.initial_image(size, content_k, styles_k[0], plan.init_image,
                                 s.init_noise_seed)
    else:  # upsample the previous scale's result in image space
      x = stylizer.preprocess(images.resize(stylizer.deprocess(x), size))

    def report(it, x_it, terms, evals, k=k, size=size):
      if callback:
        callback(Progress(k, size, it, evals, terms, x_it, to_rgb))

    x = stylizer.optimize(x, targets, s.iterations, report, first_iteration=iteration)
    iteration += s.iterations
  return to_rgb(x)


def stylize(stylizer: Stylizer, content, styles: Sequence, *,
            callback: Callable[[Progress], None] | None = None, **options) -> np.ndarray:
  """Style transfer (``content`` given) or texture synthesis (``content=None``).

  ``options`` are those of ``prepare``. Returns the RGB result, float32 in [0, 1].
  """
  return run(stylizer, prepare(stylizer, content, styles, **options), callback)
