"""Objectives and the per-device train step of the feed-forward networks.

One ``Trainer`` drives three tasks; each defines its network, its inputs and its loss:

* ``JohnsonTask`` -- content images -> ``TransformNet``; perceptual loss on a frozen VGG:
  content features of the input, Gram matrices of one style image, total variation.
* ``TextureTask`` -- multi-scale noise -> ``TextureNet``; Gram loss of one texture.
* ``AdaINTask`` -- (content, style) pairs -> frozen VGG encoder, AdaIN, ``AdaINDecoder``;
  content loss against the AdaIN target, mean/std style losses (Huang & Belongie 2017).

Loss conventions (all in the VGG's input space, averaged over the batch): content is the
mean squared feature difference; a style layer is ``mean((G/M - A)^2)`` with ``G/M`` the
Gram matrix over positions (``jaxstyle.perceptual.losses``, 'mean' form); total variation is the
mean squared neighbour difference. They are exactly the Gatys ``Stylizer``'s 'mean'
form, so a network's loss can be set beside image optimisation at the same weights.
Johnson et al.'s Lua code divides Gram matrices by C*H*W instead of H*W: its style
weight w corresponds to ``style_weight * layer_weight = w / C^2`` here.

``Trainer.step`` is written for one device (``lax.pmean`` over 'batch') and runs under
``jaxstyle.runtime.parallel.DataParallel`` exactly like the GAN step; the frozen encoder and the
style targets enter as replicated arguments (``consts``), not as state.

Mixed precision (``precision='bfloat16'``, ``jaxstyle.runtime.precision``): the network and
the VGG compute in bfloat16; the network's output and the VGG features are cast to float32
before any loss, so Gram matrices (at HIGHEST), losses, gradients, parameters and Adam's
state stay float32.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxstyle.errors import ConfigError
from jaxstyle.feedforward import nets
from jaxstyle.kernels import conv3x3, select
from jaxstyle.perceptual import losses, vgg
from jaxstyle.perceptual.weights import Preprocessing
from jaxstyle.runtime.precision import float32

KINDS = ('johnson', 'texture', 'adain')


@flax.struct.dataclass
class TrainState:
  """Replicated training state of a ``Trainer``: step (int32 scalar), RNG key data,
  network parameters, mutable collections (``model_state``) and Adam's state.
  """
  step: jax.Array
  rng: jax.Array        # uint32 key data
  params: Any
  model_state: Any      # mutable collections (TextureNet's BatchNorm statistics), may be {}
  opt_state: Any


@dataclasses.dataclass(frozen=True)
class Encoder:
  """A frozen VGG bound to its input convention (Caffe BGR, mean subtracted); its
  features come out float32 whatever ``dtype`` it computes in."""
  arch: str
  mean_bgr: tuple[float, float, float]
  pooling: str = 'max'
  conv_impl: str = 'auto'   # the VGG's convolutions (kernels.select.vgg_conv)
  dtype: Any = jnp.float32

  @property
  def module(self) -> vgg.VGG:
    """The ``vgg.VGG`` module to apply with this encoder's variables (pass
    ``frozen_variables(params, arch, conv_impl)``).
    """
    return vgg.VGG(arch=self.arch, pooling=self.pooling, conv_impl=self.conv_impl,
                   dtype=self.dtype)

  def __call__(self, variables, rgb_BHWC, layers) -> dict:
    x = Preprocessing(tuple(self.mean_bgr))(rgb_BHWC)
    return float32(self.module.apply(variables, x, tuple(layers)))


def frozen_variables(params: dict, arch: str, conv_impl: str = 'auto') -> dict:
  """The encoder's variables, with the input-gradient kernels derived once when
  ``conv_impl`` resolves to 'winograd' (for the layers present: a saved AdaIN model keeps
  only those up to relu4_1)."""
  if select.vgg_conv(conv_impl) != 'winograd':
    return {'params': params}
  names = [n for n in vgg.conv_names(arch) if n + '_kernel' in params]
  derive = jax.jit(lambda p: {n: conv3x3.derive_kernel(p[n + '_kernel']) for n in names})
  return {'params': params, 'derived': derive(params)}


@dataclasses.dataclass(frozen=True)
class Perceptual:
  """Weighted content + style (Gram) + total-variation loss."""
  content_layers: tuple[str, ...]
  style_layers: tuple[str, ...]
  layer_weights: tuple[float, ...]
  content_weight: float
  style_weight: float
  tv_weight: float

  @property
  def layers(self) -> tuple[str, ...]:
    """Content layers then style layers, each once, in that order."""
    return tuple(dict.fromkeys(self.content_layers + self.style_layers))

  def style_targets(self, encoder: Encoder, variables, style_rgb_HWC) -> dict:
    """Gram matrices (1, C, C) at each style layer of one style image
    (RGB [0, 1], (H, W, 3)); computed once before training and passed as a const.
    """
    feats = encoder(variables, jnp.asarray(style_rgb_HWC)[None], self.style_layers)
    return {layer: losses.gram(feats[layer]) for layer in self.style_layers}

  def __call__(self, feats: dict, out_rgb, content_feats: dict, style_grams: dict,
               preprocessing: Preprocessing):
    terms, total = {}, 0.0
    if self.content_weight > 0:
      for layer in self.content_layers:
        terms[f'content/{layer}'] = losses.content_loss(feats[layer], content_feats[layer], 'mean')
        total += self.content_weight * terms[f'content/{layer}']
    for layer, w in zip(self.style_layers, self.layer_weights):
      terms[f'style/{layer}'] = losses.style_layer_loss(feats[layer], style_grams[layer], 'mean')
      total += self.style_weight * w * terms[f'style/{layer}']
    if self.tv_weight > 0:
      terms['tv'] = losses.tv_loss(preprocessing(out_rgb), 'mean')
      total += self.tv_weight * terms['tv']
    terms['total'] = total
    return total, terms


def example_keys(key, n: int, axis_name: str):
  """One key per example of the global batch (independent of the device count)."""
  first = lax.axis_index(axis_name) * n
  return jax.vmap(jax.random.fold_in, (None, 0))(key, first + jnp.arange(n))


# --------------------------------------------------------------------------- tasks

@dataclasses.dataclass(frozen=True)
class JohnsonTask:
  """Johnson et al. 2016: content crops (B, crop, crop, 3), RGB [0, 1] ->
  ``TransformNet`` -> ``Perceptual`` loss. Its consts are (encoder variables, style Gram
  matrices from ``Perceptual.style_targets``).
  """
  net: nets.TransformNet
  encoder: Encoder
  loss: Perceptual
  kind: str = 'johnson'

  def init(self, key, crop: int):
    """Returns (variables, model_state) for crop x crop inputs; model_state is {}."""
    return self.net.init(key, jnp.zeros((1, crop, crop, 3))), {}

  def objective(self, params, model_state, content_BHWC, consts, key, axis_name):
    """Loss of one device's batch; returns ``(total, (model_state, terms))``
    with ``terms`` the per-layer losses and 'total' (``key`` and ``axis_name`` are unused).
    """
    del key, axis_name
    enc_vars, style_grams = consts
    out = float32(self.net.apply({'params': params}, content_BHWC))
    content_feats = lax.stop_gradient(self.encoder(enc_vars, content_BHWC,
                                                   self.loss.content_layers))
    feats = self.encoder(enc_vars, out, self.loss.layers)
    total, terms = self.loss(feats, out, content_feats, style_grams,
                             Preprocessing(tuple(self.encoder.mean_bgr)))
    return total, (model_state, terms)


@dataclasses.dataclass(frozen=True)
class TextureTask:
  """Ulyanov et al. 2016: per-example noise pyramids (finest side ``size`` px) ->
  ``TextureNet`` -> Gram loss of one texture. The batch rows only fix the batch size; the
  noise comes from per-example keys. Consts as for ``JohnsonTask``.
  """
  net: nets.TextureNet
  encoder: Encoder
  loss: Perceptual
  size: int
  kind: str = 'texture'

  def noise(self, keys):
    """Per-example noise pyramids from per-example keys."""
    def one(k):
      return [z[0] for z in nets.texture_noise(k, 1, (self.size, self.size),
                                               self.net.num_scales, self.net.noise_channels)]
    return jax.vmap(one)(keys)

  def init(self, key, crop: int):
    """Returns ({'params': ...}, model_state), model_state holding the BatchNorm
    statistics when ``net.norm == 'batch'`` (else {}); ``crop`` is unused.
    """
    del crop
    z = nets.texture_noise(key, 2, (self.size, self.size), self.net.num_scales,
                           self.net.noise_channels)
    variables = self.net.init(key, z, train=False)
    return {'params': variables['params']}, {k: v for k, v in variables.items() if k != 'params'}

  def objective(self, params, model_state, rows, consts, key, axis_name):
    """Loss on freshly sampled noise, one sample per batch row; returns
    ``(total, (model_state, terms))`` with BatchNorm statistics updated in ``model_state``.
    """
    enc_vars, style_grams = consts
    z = self.noise(example_keys(key, rows.shape[0], axis_name))
    variables = {'params': params, **model_state}
    if model_state:
      out, model_state = self.net.apply(variables, z, train=True, mutable=list(model_state))
    else:
      out = self.net.apply(variables, z, train=True)
    out = float32(out)
    feats = self.encoder(enc_vars, out, self.loss.layers)
    total, terms = self.loss(feats, out, {}, style_grams,
                             Preprocessing(tuple(self.encoder.mean_bgr)))
    return total, (model_state, terms)


@dataclasses.dataclass(frozen=True)
class AdaINTask:
  """Huang & Belongie 2017: (content, style) pairs (B, 2, crop, crop, 3), RGB [0, 1]
  -> frozen VGG encoder to ``content_layer`` (relu4_1), ``adain``, ``AdaINDecoder``. Loss:
  ``content_weight`` x the decoded image's feature distance to the AdaIN target plus
  ``style_weight`` x the mean/std differences at ``style_layers``. Consts: (encoder variables,).
  """
  net: nets.AdaINDecoder
  encoder: Encoder
  style_layers: tuple[str, ...]
  content_weight: float
  style_weight: float
  kind: str = 'adain'
  content_layer: str = 'relu4_1'

  def init(self, key, crop: int):
    """Returns (decoder variables, {}) for relu4_1 maps of a crop x crop input
    (crop // 8 per side, 512 channels).
    """
    f = jnp.zeros((1, crop // 8, crop // 8, vgg.channels(self.content_layer)))
    return self.net.init(key, f), {}

  def objective(self, params, model_state, pairs_B2HWC, consts, key, axis_name):
    """Loss of one device's batch of pairs; returns
    ``(total, (model_state, terms))`` with 'content', 'style/<layer>' and 'total' terms.
    """
    del key, axis_name
    (enc_vars,) = consts
    content, style = pairs_B2HWC[:, 0], pairs_B2HWC[:, 1]
    layers = tuple(dict.fromkeys(self.style_layers + (self.content_layer,)))
    fc = self.encoder(enc_vars, content, (self.content_layer,))[self.content_layer]
    fs = self.encoder(enc_vars, style, layers)
    t = lax.stop_gradient(nets.adain(fc, fs[self.content_layer]))
    out = float32(self.net.apply({'params': params}, t))
    fo = self.encoder(enc_vars, out, layers)
    terms = {'content': jnp.mean((fo[self.content_layer] - t) ** 2)}
    style_total = 0.0
    for layer in self.style_layers:
      mo, so = nets.channel_mean_std(fo[layer])
      ms, ss = nets.channel_mean_std(lax.stop_gradient(fs[layer]))
      terms[f'style/{layer}'] = jnp.mean((mo - ms) ** 2) + jnp.mean((so - ss) ** 2)
      style_total += terms[f'style/{layer}']
    total = self.content_weight * terms['content'] + self.style_weight * style_total
    terms['total'] = total
    return total, (model_state, terms)


# --------------------------------------------------------------------------- trainer

def make_optimizer(c) -> optax.GradientTransformation:
  """Adam with an optional inverse-time decay lr / (1 + decay * t) (AdaIN's schedule)."""
  if c.name != 'adam':
    raise ConfigError(f"optimizer.name must be 'adam', got {c.name!r}")
  if not c.lr > 0 or c.get('decay', 0.0) < 0:
    raise ConfigError(f'optimizer.lr must be > 0 and optimizer.decay >= 0, got {c.lr}, '
                      f'{c.get("decay", 0.0)}')
  decay = float(c.get('decay', 0.0))
  lr = float(c.lr) if decay == 0 else (lambda t: c.lr / (1.0 + decay * t))
  return optax.adam(lr, b1=float(c.get('b1', 0.9)), b2=float(c.get('b2', 0.999)))


class Trainer:
  """``init(seed)`` and the per-device ``step(state, batch, *consts)`` for one task."""

  def __init__(self, task, tx: optax.GradientTransformation, crop: int,
               axis_name: str = 'batch'):
    self.task, self.tx, self.crop, self.axis_name = task, tx, crop, axis_name

  def init(self, seed: int) -> TrainState:
    """The initial ``TrainState`` (step 0), a pure function of ``seed``."""
    k_init, k_run = jax.random.split(jax.random.key(seed))
    variables, model_state = self.task.init(k_init, self.crop)
    params = variables['params']
    return TrainState(step=jnp.zeros((), jnp.int32), rng=jax.random.key_data(k_run),
                      params=params, model_state=model_state, opt_state=self.tx.init(params))

  def step(self, state: TrainState, batch, *consts):
    """One update from this device's rows ``batch`` of shape (1, n, ...)."""
    pmean = lambda t: lax.pmean(t, self.axis_name)  # noqa: E731
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    (_, (model_state, terms)), grads = jax.value_and_grad(self.task.objective, has_aux=True)(
        state.params, state.model_state, batch[0], consts, key, self.axis_name)
    updates, opt_state = self.tx.update(pmean(grads), state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params, model_state=model_state,
                              opt_state=opt_state)
    return new_state, pmean(terms)

