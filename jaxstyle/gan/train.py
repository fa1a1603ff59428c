"""GAN training state, optimisers and the per-device train step.

``GANTrainer.step(state, real)`` is written for ONE device holding its slice of the
global batch. It averages gradients and metrics with ``lax.pmean`` over ``axis_name``;
``jaxstyle.runtime.parallel`` runs it under ``jax.pmap`` or ``jax.jit(jax.shard_map)``.

Randomness. The run's key lives in the state (``rng``). A step uses
``fold_in(rng, step)``; every example of the global batch then gets its own key
``fold_in(step_key, global_index)`` with ``global_index = axis_index * per_device + i``.
Each device therefore draws its own noise (its indices differ), and the noise of
example i does not depend on how many devices share the batch: one device and eight
compute the same step, and a resumed run replays the keys of an uninterrupted one.

One call is one generator update preceded by ``d_steps`` discriminator updates, each
on its own real sub-batch: ``real`` has shape (d_steps, per_device_batch, ...).
``update='simultaneous'`` instead takes both gradients at the current parameters on the
same minibatch and noise (Goodfellow et al.'s code, k = 1).

Class-conditional models (``models.conditional``): ``real`` is then a pair (images,
labels), labels (d_steps, n) int32. Generated examples draw their label uniformly from
their own per-example key, like their noise, so labels too are the same on 1 or 8
devices. The discriminator sees (x, y); with 'acgan' the class cross-entropy, weighted
by ``ac_weight``, is added to D's loss on real and generated examples and to G's on
generated ones (Odena et al. 2017).

DiffAugment (``augment``, Zhao et al. 2020): every batch the discriminator sees, real or
generated, in D's and G's updates, is augmented first with the policy's differentiable
transforms, drawn per example from the example's key (``jaxstyle.gan.augment``).

Mixed precision: models built with ``dtype=bfloat16`` compute in bfloat16 from float32
parameters; logits are cast to float32 before every loss and samples leave ``sample`` as
float32, so losses, gradients, optimiser states and EMA weights stay float32.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxstyle.errors import ConfigError
from jaxstyle.gan import augment, losses
from jaxstyle.gan.models import GANModels
from jaxstyle.runtime.precision import float32


@flax.struct.dataclass
class GANState:
  """Replicated GAN training state: both players' parameters, mutable collections and
  optimiser states, the step count, the run's RNG key data and the optional EMA weights.
  """
  step: jax.Array          # generator updates done
  rng: jax.Array           # uint32 key data of the run's training key
  g_params: Any
  g_stats: Any             # mutable collections (BatchNorm running stats), may be {}
  d_params: Any
  d_stats: Any             # BatchNorm stats and spectral-norm power-iteration vectors
  g_opt: Any
  d_opt: Any
  ema_params: Any          # exponential moving average of g_params (None when disabled)


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Settings of one GAN update (from ``config.train``); invalid values raise
  ConfigError on construction.

  Attributes:
    loss: one of ``losses.LOSSES``.
    gp_weight: WGAN-GP penalty weight (0: off).
    d_steps: discriminator updates per generator update ('alternating' only).
    update: 'alternating' (D then G against the updated D) or 'simultaneous' (both
      gradients at the current parameters).
    d_loss_scale: factor on the discriminator loss.
    ema_decay: decay of the generator's weight average, in [0, 1) (0: no EMA).
    ema_start: first update (0-based step count) that averages; before it the EMA copies
      the weights (BigGAN-PyTorch, counting from 1, starts one update earlier).
    pack: PacGAN packing degree m (the discriminator sees m examples at a time).
    ac_weight: weight of the AC-GAN class cross-entropy (conditioning 'acgan' only).
    augment: DiffAugment policy, e.g. 'color,translation,cutout' ('' = none).
    axis_name: the data-parallel axis the gradients are averaged over.
  """
  loss: str = 'non_saturating'
  gp_weight: float = 0.0
  d_steps: int = 1
  update: str = 'alternating'
  d_loss_scale: float = 1.0
  ema_decay: float = 0.0
  ema_start: int = 0
  pack: int = 1
  ac_weight: float = 1.0
  augment: str = ''
  axis_name: str = 'batch'

  def __post_init__(self):
    augment.check_policy(self.augment)
    if self.ac_weight < 0:
      raise ConfigError(f'train.ac_weight must be >= 0, got {self.ac_weight}')
    if self.loss not in losses.LOSSES:
      raise ConfigError(f'train.loss {self.loss!r} is unknown; choose one of '
                        f'{", ".join(losses.LOSSES)}')
    if self.update not in ('alternating', 'simultaneous'):
      raise ConfigError(f"train.update_rule must be 'alternating' or 'simultaneous', "
                        f'got {self.update!r}')
    if self.d_steps < 1:
      raise ConfigError(f'train.d_steps must be >= 1, got {self.d_steps}')
    if self.update == 'simultaneous' and self.d_steps != 1:
      raise ConfigError('train.update_rule=simultaneous needs train.d_steps=1')
    if not 0.0 <= self.ema_decay < 1.0:
      raise ConfigError(f'train.ema_decay must be in [0, 1), got {self.ema_decay}')
    if self.gp_weight < 0:
      raise ConfigError(f'train.gp_weight must be >= 0, got {self.gp_weight}')


# --------------------------------------------------------------------------- optimisers

def pylearn2_momentum(learning_rate, momentum) -> optax.GradientTransformation:
  """pylearn2's SGD: inc = m_t inc - lr_t g; param += inc (lr inside the velocity)."""

  def init(params):
    return {'inc': jax.tree.map(jnp.zeros_like, params), 'count': jnp.zeros((), jnp.int32)}

  def update(grads, state, params=None):
    del params
    t = state['count']
    lr, m = learning_rate(t), momentum(t)
    inc = jax.tree.map(lambda v, g: m * v - lr * g, state['inc'], grads)
    return inc, {'inc': inc, 'count': t + 1}

  return optax.GradientTransformation(init, update)


def make_optimizer(c) -> optax.GradientTransformation:
  """``adam`` (lr, b1, b2) or Goodfellow et al.'s ``goodfellow_sgd`` schedule."""
  if c.name == 'adam':
    if c.lr <= 0:
      raise ConfigError(f'optimizer lr must be > 0, got {c.lr}')
    return optax.adam(c.lr, b1=c.b1, b2=c.b2)
  if c.name == 'goodfellow_sgd':
    # ExponentialDecay(decay_factor, min_lr) per update; MomentumAdjustor linear from
    # momentum_start to momentum_end, reached after momentum_saturate_steps updates.
    log_decay = float(np.log(c.lr_decay_factor))  # float64: float32(1.000004) is 1.00000405
    lr = lambda t: jnp.maximum(c.lr * jnp.exp(-log_decay * t), c.min_lr)  # noqa: E731
    frac = lambda t: jnp.minimum(t / max(c.momentum_saturate_steps, 1), 1.0)  # noqa: E731
    mom = lambda t: c.momentum_start + (c.momentum_end - c.momentum_start) * frac(t)  # noqa: E731
    return pylearn2_momentum(lr, mom)
  raise ConfigError(f"optimizer name must be 'adam' or 'goodfellow_sgd', got {c.name!r}")


# --------------------------------------------------------------------------- helpers

def pack_examples(x, m: int):
  """PacGAN packing: m examples side by side along the feature/channel axis."""
  if m == 1:
    return x
  b = x.shape[0] // m
  if x.ndim == 2:
    return x.reshape(b, m * x.shape[1])
  x = x.reshape(b, m, *x.shape[1:])
  x = jnp.moveaxis(x, 1, -2)
  return x.reshape(*x.shape[:-2], m * x.shape[-1])


# fold_in salt of an example's augmentation key (its key itself drives dropout).
AUGMENT_SALT = 7


def _example_keys(key, n: int, axis_name: str):
  first = lax.axis_index(axis_name) * n
  return jax.vmap(jax.random.fold_in, (None, 0))(key, first + jnp.arange(n))


class GANTrainer:
  """Binds models, optimisers and step settings; ``step`` is the per-device update."""

  def __init__(self, models: GANModels, step_config: StepConfig,
               g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation):
    self.models, self.cfg, self.g_tx, self.d_tx = models, step_config, g_tx, d_tx
    # Compiled once per trainer (sample grids during training, evaluation after it).
    self.sample_jit = jax.jit(self.sample, static_argnames='use_ema')

  # ----------------------------------------------------------------- init

  def init(self, seed: int, data_shape: tuple) -> GANState:
    """The initial ``GANState`` for examples of ``data_shape`` (e.g. (28, 28, 1) or
    (2,)), a pure function of ``seed``.
    """
    key = jax.random.key(seed)
    k_g, k_d, k_run = jax.random.split(key, 3)
    m = self.cfg.pack
    z = jnp.zeros((2 * m, self.models.noise_dim))
    x = pack_examples(jnp.zeros((2 * m, *data_shape)), m)
    y = self._labels_kw(jnp.zeros((2 * m,), jnp.int32))
    g_vars = self.models.generator.init(k_g, z, train=False, **y)
    d_vars = self.models.discriminator.init(k_d, x, train=False, **y)
    g_params, g_stats = g_vars['params'], {k: v for k, v in g_vars.items() if k != 'params'}
    d_params, d_stats = d_vars['params'], {k: v for k, v in d_vars.items() if k != 'params'}
    return GANState(
        step=jnp.zeros((), jnp.int32), rng=jax.random.key_data(k_run),
        g_params=g_params, g_stats=g_stats, d_params=d_params, d_stats=d_stats,
        g_opt=self.g_tx.init(g_params), d_opt=self.d_tx.init(d_params),
        # A copy: donated buffers must not alias.
        ema_params=jax.tree.map(jnp.copy, g_params) if self.cfg.ema_decay > 0 else None)

  # ----------------------------------------------------------------- model calls

  def _labels_kw(self, y) -> dict:
    """``{'y': y}`` for a conditional pair, ``{}`` otherwise (unconditional networks
    take no labels)."""
    return {'y': y} if self.models.conditional else {}

  def generate(self, g_params, g_stats, z, train: bool, y=None):
    """Generator output for noise ``z`` (and labels ``y`` if conditional); returns
    (samples, g_stats) with the BatchNorm statistics updated when ``train`` and the
    generator has any.
    """
    variables = {'params': g_params, **g_stats}
    kw = self._labels_kw(y)
    if train and g_stats:
      return self.models.generator.apply(variables, z, train=True, mutable=list(g_stats), **kw)
    return self.models.generator.apply(variables, z, train=train, **kw), g_stats

  def discriminate(self, d_params, d_stats, x, keys, train: bool = True, y=None):
    """Discriminator output for samples ``x`` (labels ``y`` if conditional), augmented by
    the DiffAugment policy when ``keys`` are given, then packed ``pack`` at a time (one
    logit per pack); ``keys`` are per-example keys (dropout, augmentation) or None.
    Returns (logits, class_logits, d_stats): class_logits (B, K) for an AC-GAN
    discriminator, else None; d_stats updated when ``train``.
    """
    variables = {'params': d_params, **d_stats}
    if keys is not None and self.cfg.augment:
      x = augment.diffaugment(x, jax.vmap(jax.random.fold_in, (0, None))(keys, AUGMENT_SALT),
                              self.cfg.augment)
    x = pack_examples(x, self.cfg.pack)
    if keys is not None:
      keys = keys[::self.cfg.pack]
    kw = self._labels_kw(y)
    if train and d_stats:
      out, d_stats = self.models.discriminator.apply(
          variables, x, train=True, example_keys=keys, mutable=list(d_stats), **kw)
    else:
      out = self.models.discriminator.apply(variables, x, train=train, example_keys=keys, **kw)
    logits, class_logits = out if isinstance(out, tuple) else (out, None)
    # Losses in float32: a bfloat16 logit of 10 is only known to +-0.03.
    return float32(logits), None if class_logits is None else float32(class_logits), d_stats

  def sample(self, state: GANState, z, use_ema: bool = True, y=None):
    """Generator output for noise ``z`` (and class labels ``y`` for a conditional
    model) in inference mode (running BatchNorm stats)."""
    params = state.ema_params if use_ema and state.ema_params is not None else state.g_params
    return float32(self.generate(params, state.g_stats, z, train=False, y=y)[0])

  def _fake_labels(self, key, n):
    """Labels of n generated examples, each uniform from its own per-example key."""
    if not self.models.conditional:
      return None
    keys = _example_keys(key, n, self.cfg.axis_name)
    return jax.vmap(self.models.sample_labels)(keys)

  # ----------------------------------------------------------------- losses

  def _d_loss(self, d_params, d_stats, real, fake, key, real_labels=None, fake_labels=None):
    c = self.cfg
    n = real.shape[0]
    k_real, k_fake, k_eps = (jax.random.fold_in(key, i) for i in range(3))
    real_logits, real_cls, d_stats = self.discriminate(
        d_params, d_stats, real, _example_keys(k_real, n, c.axis_name), y=real_labels)
    fake_logits, fake_cls, d_stats = self.discriminate(
        d_params, d_stats, fake, _example_keys(k_fake, n, c.axis_name), y=fake_labels)
    loss = c.d_loss_scale * losses.d_loss(c.loss, real_logits, fake_logits)
    aux = {'d_real_logit': jnp.mean(real_logits), 'd_fake_logit': jnp.mean(fake_logits)}
    if real_cls is not None:
      ac_real = losses.class_loss(real_cls, real_labels)
      ac_fake = losses.class_loss(fake_cls, fake_labels)
      loss = loss + c.ac_weight * (ac_real + ac_fake)
      aux['d_class_loss_real'], aux['d_class_loss_fake'] = ac_real, ac_fake
      aux['d_class_accuracy_real'] = jnp.mean(
          (jnp.argmax(real_cls, -1) == real_labels).astype(jnp.float32))
    if c.gp_weight > 0:
      eps_keys = _example_keys(k_eps, n // c.pack, c.axis_name)
      eps = jax.vmap(jax.random.uniform)(eps_keys)
      # The interpolates are scored at the real labels (as StudioGAN does) and without
      # DiffAugment (the penalty is on D's gradient at unaugmented points).
      kw = self._labels_kw(real_labels)

      def critic(x):
        variables = {'params': d_params, **d_stats}
        out = self.models.discriminator.apply(variables, x, train=True, mutable=list(d_stats),
                                              **kw)[0] if d_stats else \
            self.models.discriminator.apply(variables, x, train=True, **kw)
        return float32(out[0] if isinstance(out, tuple) else out)
      gp = losses.gradient_penalty(critic, pack_examples(real, c.pack),
                                   pack_examples(fake, c.pack), eps)
      loss = loss + c.gp_weight * gp
      aux['gradient_penalty'] = gp
    return loss, (d_stats, aux)

  def _g_loss(self, g_params, g_stats, d_params, d_stats, key, n):
    c = self.cfg
    k_z, k_d = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    z = jax.vmap(self.models.sample_noise)(_example_keys(k_z, n, c.axis_name))
    y = self._fake_labels(jax.random.fold_in(key, 2), n)
    fake, g_stats = self.generate(g_params, g_stats, z, train=True, y=y)
    fake_logits, fake_cls, _ = self.discriminate(d_params, d_stats, fake,
                                                 _example_keys(k_d, n, c.axis_name), y=y)
    loss = losses.g_loss(c.loss, fake_logits)
    if fake_cls is not None:
      loss = loss + c.ac_weight * losses.class_loss(fake_cls, y)
    return loss, (g_stats, fake, y)

  # ----------------------------------------------------------------- the step

  def step(self, state: GANState, batch):
    """One per-device update; ``batch`` is this device's (d_steps, n, ...) slice of the
    real examples, or for a conditional model the pair (examples, labels (d_steps, n))."""
    c = self.cfg
    pmean = lambda t: lax.pmean(t, c.axis_name)  # noqa: E731
    real, real_labels = batch if isinstance(batch, tuple) else (batch, None)
    if self.models.conditional and real_labels is None:
      raise ConfigError('a conditional model needs labelled batches (examples, labels)')
    n = real.shape[1]
    if n % c.pack:
      raise ConfigError(f'the per-device batch ({n}) must be a multiple of model.pack ({c.pack})')
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    g_key = jax.random.fold_in(key, c.d_steps)

    if c.update == 'simultaneous':
      # Both players' gradients at the current parameters, from one minibatch and one z.
      (g_loss, (g_stats, fake, fake_labels)), g_grads = jax.value_and_grad(
          self._g_loss, has_aux=True)(state.g_params, state.g_stats, state.d_params,
                                      state.d_stats, g_key, n)
      (d_loss, (d_stats, aux)), d_grads = jax.value_and_grad(self._d_loss, has_aux=True)(
          state.d_params, state.d_stats, real[0], lax.stop_gradient(fake),
          jax.random.fold_in(key, 0), None if real_labels is None else real_labels[0],
          fake_labels)
      d_updates, d_opt = self.d_tx.update(pmean(d_grads), state.d_opt, state.d_params)
      d_params = optax.apply_updates(state.d_params, d_updates)
    else:
      def d_update(i, carry):
        d_params, d_stats, d_opt, _, _ = carry
        sub_key = jax.random.fold_in(key, i)
        z = jax.vmap(self.models.sample_noise)(
            _example_keys(jax.random.fold_in(sub_key, 3), n, c.axis_name))
        fake_labels = self._fake_labels(jax.random.fold_in(sub_key, 4), n)
        fake, _ = self.generate(state.g_params, state.g_stats, z, train=True, y=fake_labels)
        real_labels_i = None if real_labels is None else real_labels[i]
        (loss, (d_stats, aux)), grads = jax.value_and_grad(self._d_loss, has_aux=True)(
            d_params, d_stats, real[i], lax.stop_gradient(fake), sub_key, real_labels_i,
            fake_labels)
        updates, d_opt = self.d_tx.update(pmean(grads), d_opt, d_params)
        # Metrics leave the loop device-invariant (fori_loop carries must keep their type).
        return optax.apply_updates(d_params, updates), d_stats, d_opt, pmean(loss), pmean(aux)

      zero_aux = {'d_real_logit': 0.0, 'd_fake_logit': 0.0}
      if self.models.conditioning == 'acgan':
        zero_aux.update(d_class_loss_real=0.0, d_class_loss_fake=0.0, d_class_accuracy_real=0.0)
      if c.gp_weight > 0:
        zero_aux['gradient_penalty'] = 0.0
      carry = (state.d_params, state.d_stats, state.d_opt, jnp.zeros(()),
               jax.tree.map(jnp.asarray, zero_aux))
      d_params, d_stats, d_opt, d_loss, aux = lax.fori_loop(0, c.d_steps, d_update, carry) \
          if c.d_steps > 1 else d_update(0, carry)
      (g_loss, (g_stats, _, _)), g_grads = jax.value_and_grad(self._g_loss, has_aux=True)(
          state.g_params, state.g_stats, d_params, d_stats, g_key, n)

    g_updates, g_opt = self.g_tx.update(pmean(g_grads), state.g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    ema = state.ema_params
    if ema is not None:
      decay = jnp.where(state.step >= c.ema_start, c.ema_decay, 0.0)
      ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, g_params)
    new_state = state.replace(step=state.step + 1, g_params=g_params, g_stats=g_stats,
                              d_params=d_params, d_stats=d_stats, g_opt=g_opt, d_opt=d_opt,
                              ema_params=ema)
    metrics = pmean({'d_loss': d_loss, 'g_loss': g_loss, **aux})
    return new_state, metrics


def count_params(tree) -> int:
  """Total number of scalars in a parameter pytree."""
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))
