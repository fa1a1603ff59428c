"""Generator and discriminator networks, each named after the paper that defines it.

"DCGAN" means different networks in different codebases (a ResNet in mimicry, a ReLU
discriminator in StudioGAN, the InfoGAN net in Lucic et al.), so every architecture here
has an exact name and a docstring that states its layers:

  goodfellow_mnist  Goodfellow et al. 2014 (goodfeli/adversarial mnist.yaml)
  dcgan28/32/64     Radford et al. 2015 guidelines; dcgan64 is the paper's / pytorch
                    examples' 64 px network, dcgan32 and dcgan28 drop the first stage(s)
  pacgan_mlp        the 2D-mixture MLPs of Lin et al. 2018 (PacGAN)
  sngan32/64        Miyato et al. 2018's ResNets (CIFAR-10 32 px, and the 64 px variant);
                    sngan28 the 32 px nets with two blocks for MNIST (jaxstyle.gan.resnet)

Discriminators return logits of shape (B,). Generators map noise (B, noise_dim) to
images (B, H, W, C) or points (B, 2).

Class conditioning (``num_classes`` > 0; labels ``y`` (B,) int): the MLP generators
concatenate the one-hot label to z (Mirza & Osindero 2014; a learned class embedding
folded into the first layer), the convolutional ones replace BatchNorm's affine by
per-class gammas and betas (``layers.ConditionalBatchNorm``). Discriminators with
``conditioning='projection'`` add <embed(y), features> to the logit (Miyato & Koyama
2018); with 'acgan' they return (logits, class_logits) (Odena et al. 2017); the features
are the last hidden layer (MLPs), the flattened last feature map (DCGAN) or the
sum-pooled ResNet features (SNGAN, ``jaxstyle.gan.resnet``). BatchNorm statistics are averaged over the
named device axis when ``bn_axis`` is set (synchronised BatchNorm), so the global batch,
not the per-device slice, defines them. Every network takes ``dtype``, the dtype of its
activations and matmuls/convolutions (bfloat16 for mixed precision,
``jaxstyle.runtime.precision``); parameters and BatchNorm statistics are float32 either way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import ConfigError
from jaxstyle.gan import layers
from jaxstyle.kernels import select

ARCHITECTURES = ('goodfellow_mnist', 'dcgan28', 'dcgan32', 'dcgan64', 'pacgan_mlp',
                 'sngan28', 'sngan32', 'sngan64')


def _normal(std):
  return nn.initializers.normal(std)


def _uniform(bound):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


class Maxout(nn.Module):
  """Dense layer with ``units * pieces`` outputs, max over each group of ``pieces``."""
  units: int
  pieces: int
  kernel_init: Callable = _normal(0.02)
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    dense = nn.Dense(self.units * self.pieces, kernel_init=self.kernel_init, dtype=self.dtype)
    h = nn.SpectralNorm(dense)(x, update_stats=train) if self.spectral_norm else dense(x)
    return h.reshape(*h.shape[:-1], self.units, self.pieces).max(-1)


def _dropout(x, keep: float, example_keys, salt: int):
  """Inverted dropout with one mask per example drawn from that example's key.

  Per-example keys make the masks independent of how the batch is split across
  devices, which is what lets 1 device and 8 devices compute the same step.
  """
  if example_keys is None or keep >= 1.0:
    return x
  masks = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, salt), keep,
                                                  x.shape[1:]))(example_keys)
  return jnp.where(masks, x / keep, 0.0)


def _with_label(z, y, num_classes: int):
  """z with the one-hot label appended (unconditional: z unchanged)."""
  if not num_classes:
    return z
  return jnp.concatenate([z, jax.nn.one_hot(y, num_classes, dtype=z.dtype)], axis=-1)


# --------------------------------------------------------------------------- Goodfellow 2014

class GoodfellowGenerator(nn.Module):
  """z (100, U[-sqrt3, sqrt3]) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, weights U(+-.05).

  The output bias starts at the logit of the data's per-pixel mean (pylearn2's
  ``init_bias_from_marginals``) when ``output_bias`` is given.
  """
  hidden: int = 1200
  out_shape: tuple = (28, 28, 1)
  output_bias: Any = None
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = True, y=None):
    del train
    init = _uniform(0.05)
    h = _with_label(z, y, self.num_classes)
    h = nn.relu(nn.Dense(self.hidden, kernel_init=init, dtype=self.dtype, name='h0')(h))
    h = nn.relu(nn.Dense(self.hidden, kernel_init=init, dtype=self.dtype, name='h1')(h))
    size = int(np.prod(self.out_shape))
    bias_init = nn.initializers.zeros
    if self.output_bias is not None:
      bias = jnp.asarray(self.output_bias, jnp.float32).reshape(size)
      bias_init = lambda *_: bias  # noqa: E731
    x = nn.sigmoid(nn.Dense(size, kernel_init=init, bias_init=bias_init, dtype=self.dtype,
                            name='y')(h))
    return x.reshape(z.shape[0], *self.out_shape)


class GoodfellowDiscriminator(nn.Module):
  """Two maxout layers (240 units x 5 pieces) -> sigmoid logit; weights U(+-.005).

  Dropout keeps inputs with probability 0.8 and hidden units with 0.5 (rescaled),
  as pylearn2's ``input_include_probs``.
  """
  units: int = 240
  pieces: int = 5
  spectral_norm: bool = False
  conditioning: str = 'none'
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True, example_keys=None, y=None):
    keys = example_keys if train else None
    h = x.reshape(x.shape[0], -1)
    h = _dropout(h, 0.8, keys, 0)
    h = Maxout(self.units, self.pieces, _uniform(0.005), self.spectral_norm, self.dtype,
               name='h0')(h, train)
    h = _dropout(h, 0.5, keys, 1)
    h = Maxout(self.units, self.pieces, _uniform(0.005), self.spectral_norm, self.dtype,
               name='h1')(h, train)
    h = _dropout(h, 0.5, keys, 2)
    logits = _dense(1, _uniform(0.005), self.spectral_norm, 'y', dtype=self.dtype)(h, train)[:, 0]
    return layers.conditional_output(self, h, logits, y, self.conditioning, self.num_classes,
                                     self.spectral_norm, train, self.dtype, _uniform(0.005))


def _dense(features, init, spectral_norm, name, use_bias=True, dtype=jnp.float32):
  dense = nn.Dense(features, kernel_init=init, use_bias=use_bias, dtype=dtype, name=name)
  if spectral_norm:
    return lambda h, train: nn.SpectralNorm(dense, name=f'{name}_sn')(h, update_stats=train)
  return lambda h, train: dense(h)


# --------------------------------------------------------------------------- PacGAN mixtures

class MixtureGenerator(nn.Module):
  """z (2, N(0, I)) -> 4 x [Dense 400 without bias, BatchNorm, ReLU] -> Dense 2."""
  hidden: int = 400
  depth: int = 4
  out_dim: int = 2
  bn_axis: str | None = None
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = True, y=None):
    h = _with_label(z, y, self.num_classes)
    for i in range(self.depth):
      h = nn.Dense(self.hidden, use_bias=False, kernel_init=_normal(0.02), dtype=self.dtype,
                   name=f'fc{i}')(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                       axis_name=self.bn_axis if train else None, dtype=self.dtype,
                       name=f'bn{i}')(h)
      h = nn.relu(h)
    return nn.Dense(self.out_dim, kernel_init=_normal(0.02), dtype=self.dtype, name='out')(h)


class MixtureDiscriminator(nn.Module):
  """3 x maxout (200 units x 5 pieces) -> Dense 1; input 2 * pack (PacGAN packing)."""
  units: int = 200
  pieces: int = 5
  depth: int = 3
  spectral_norm: bool = False
  conditioning: str = 'none'
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True, example_keys=None, y=None):
    del example_keys
    h = x.reshape(x.shape[0], -1)
    for i in range(self.depth):
      h = Maxout(self.units, self.pieces, _normal(0.02), self.spectral_norm, self.dtype,
                 name=f'maxout{i}')(h, train)
    logits = _dense(1, _normal(0.02), self.spectral_norm, 'out', dtype=self.dtype)(h, train)[:, 0]
    return layers.conditional_output(self, h, logits, y, self.conditioning, self.num_classes,
                                     self.spectral_norm, train, self.dtype)


# --------------------------------------------------------------------------- DCGAN

# Feature widths per stage, from the 4x4 stage up; the last stage feeds the image layer.
_DCGAN_STAGES = {28: (2, 1), 32: (4, 2, 1), 64: (8, 4, 2, 1)}


class DCGANGenerator(nn.Module):
  """Radford et al. 2015 generator.

  dcgan64 (the paper's LSUN net, pytorch/examples): z -> 4x4x(8 ngf) -> 8x8x(4 ngf)
  -> 16x16x(2 ngf) -> 32x32x(ngf) -> 64x64xC; dcgan32: z -> 4x4x(4 ngf) -> ... -> 32x32xC;
  dcgan28: z -> 7x7x(2 ngf) -> 14x14x(ngf) -> 28x28xC. The projection of z is a
  dense layer (= a transposed conv on a 1x1 input), every upsampling a 4x4 stride-2
  transposed conv; BatchNorm + ReLU after every layer but the tanh output.
  Init N(0, 0.02); BatchNorm scale N(1, 0.02); no biases (as pytorch/examples).
  """
  resolution: int = 64
  channels: int = 3
  ngf: int = 64
  bn_axis: str | None = None
  conv_impl: str = 'auto'
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = True, y=None):
    widths = [m * self.ngf for m in _DCGAN_STAGES[self.resolution]]
    start = 7 if self.resolution == 28 else 4

    def bn(name, h):
      if self.num_classes:  # per-class gamma (N(1, 0.02) as the plain BN's) and beta
        return layers.ConditionalBatchNorm(
            self.num_classes, 0.9, 1e-5, self.bn_axis, _bn_scale_init, self.dtype,
            name=name)(h, y, train)
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                          axis_name=self.bn_axis if train else None, scale_init=_bn_scale_init,
                          dtype=self.dtype, name=name)(h)

    h = nn.Dense(start * start * widths[0], use_bias=False, kernel_init=_normal(0.02),
                 dtype=self.dtype, name='project')(z)
    h = nn.relu(bn('bn0', h.reshape(z.shape[0], start, start, widths[0])))
    for i, width in enumerate(widths[1:], start=1):
      h = layers.ConvTranspose4x4(width, use_bias=False, impl=self.conv_impl, dtype=self.dtype,
                                  name=f'up{i}')(h)
      h = nn.relu(bn(f'bn{i}', h))
    h = layers.ConvTranspose4x4(self.channels, use_bias=False, impl=self.conv_impl,
                                dtype=self.dtype, name=f'up{len(widths)}')(h)
    return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
  """Radford et al. 2015 discriminator, the mirror of the generator.

  4x4 stride-2 convs with LeakyReLU 0.2, BatchNorm on every layer but the input one
  (``norm='none'`` drops it, e.g. for WGAN-GP or spectral normalisation), and a final
  conv over the whole remaining map (4x4, or 7x7 at 28 px) to one logit. With
  BatchNorm there are no biases (as pytorch/examples); without, every layer has one.
  """
  resolution: int = 64
  ndf: int = 64
  norm: str = 'batch'
  spectral_norm: bool = False
  bn_axis: str | None = None
  conv_impl: str = 'auto'
  conditioning: str = 'none'
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True, example_keys=None, y=None):
    del example_keys
    widths = [m * self.ndf for m in reversed(_DCGAN_STAGES[self.resolution])]
    h = x
    for i, width in enumerate(widths):
      conv = layers.Conv4x4Stride2(width, use_bias=self.norm != 'batch',
                                   impl=self.conv_impl, dtype=self.dtype, name=f'down{i}')
      h = nn.SpectralNorm(conv, name=f'down{i}_sn')(h, update_stats=train) \
          if self.spectral_norm else conv(h)
      if i > 0 and self.norm == 'batch':
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         axis_name=self.bn_axis if train else None, scale_init=_bn_scale_init,
                         dtype=self.dtype, name=f'bn{i}')(h)
      h = nn.leaky_relu(h, 0.2)
    h = h.reshape(h.shape[0], -1)
    logits = _dense(1, _normal(0.02), self.spectral_norm, 'logit',
                    use_bias=self.norm != 'batch', dtype=self.dtype)(h, train)[:, 0]
    return layers.conditional_output(self, h, logits, y, self.conditioning, self.num_classes,
                                     self.spectral_norm, train, self.dtype)


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


# --------------------------------------------------------------------------- factory

@dataclasses.dataclass(frozen=True)
class GANModels:
  """A generator/discriminator pair with its noise prior and output range, as
  ``build`` returns it. Generator: noise (..., noise_dim) -> samples in ``data_range``;
  discriminator: samples (packed ``model.pack`` at a time) -> one logit per pack.
  """
  generator: nn.Module
  discriminator: nn.Module
  noise_dim: int
  noise: str            # 'normal' or 'uniform' (U[-sqrt3, sqrt3], unit variance)
  data_range: tuple     # (low, high) of the generator's output
  conditioning: str = 'none'   # 'none' | 'projection' | 'acgan' (layers.CONDITIONINGS)
  num_classes: int = 0         # > 0 exactly when the pair is class-conditional

  @property
  def conditional(self) -> bool:
    """True for a class-conditional pair (both networks take labels ``y``)."""
    return self.num_classes > 0

  def sample_labels(self, key, shape=()):
    """Class labels of shape ``shape``, uniform over ``num_classes`` (int32)."""
    return jax.random.randint(key, shape, 0, self.num_classes, jnp.int32)

  def sample_noise(self, key, shape=()):
    """Noise of shape (*shape, noise_dim) from the prior: standard normal, or
    uniform on [-sqrt 3, sqrt 3] (unit variance) when ``noise == 'uniform'``.
    """
    if self.noise == 'uniform':
      return jax.random.uniform(key, (*shape, self.noise_dim), minval=-np.sqrt(3.0),
                                maxval=np.sqrt(3.0))
    return jax.random.normal(key, (*shape, self.noise_dim))


def kernels(model_config, backend: str | None = None) -> dict:
  """The resolved kernel formulations of ``model_config`` as run_info.json records them:
  the DCGAN architectures' stride-2 and transposed convolutions (``model.conv_impl``),
  nothing for the MLPs."""
  if not str(model_config.arch).startswith('dcgan'):
    return select.record(backend)
  conv, conv_transpose = select.dcgan_convs(model_config.get('conv_impl', 'auto'), backend)
  return select.record(backend, dcgan_conv=conv, dcgan_conv_transpose=conv_transpose)


def conditioning_of(model_config, num_classes: int) -> tuple[str, int]:
  """``(conditioning, num_classes)`` of ``model.conditioning`` for a source with
  ``num_classes`` classes; (none, 0) for an unconditional model. Raises ConfigError for an
  unknown conditioning or a conditional model on a source without (enough) classes."""
  cond = str(model_config.get('conditioning', 'none'))
  if cond not in layers.CONDITIONINGS:
    raise ConfigError(f'model.conditioning must be one of {", ".join(layers.CONDITIONINGS)}, '
                      f'got {cond!r}')
  if cond == 'none':
    return cond, 0
  if num_classes < 2:
    raise ConfigError(f'model.conditioning={cond} needs a labelled dataset with at least 2 '
                      f'classes, but the data has {num_classes}; use MNIST idx files with their '
                      f'label file, a TFDS dataset with labels, an image folder with one '
                      f'subfolder per class, or a mixture, or set model.conditioning=none')
  if int(model_config.get('pack', 1)) > 1:
    raise ConfigError(f'model.pack={model_config.pack} packs several examples, each with its '
                      f'own label, into one discriminator input, which a {cond} '
                      f'discriminator cannot condition on; set model.pack=1')
  return cond, int(num_classes)


def build(model_config, data_shape: tuple, bn_axis: str | None = 'batch',
          output_bias=None, dtype=jnp.float32, num_classes: int = 0) -> GANModels:
  """Builds the generator/discriminator pair that ``model_config.arch`` names, computing
  in ``dtype`` (bfloat16 for mixed precision; parameters are float32 either way).
  ``num_classes``: the data's classes; used when ``model.conditioning`` is not 'none'."""
  c = model_config
  arch = c.arch
  sn = bool(c.get('spectral_norm', False))
  pack = int(c.get('pack', 1))
  if pack < 1:
    raise ConfigError(f'model.pack must be >= 1, got {pack}')
  cond, k = conditioning_of(c, num_classes)
  if arch.startswith(('dcgan', 'sngan')) and len(data_shape) != 3:
    raise ConfigError(f'{arch} makes images but the data has shape {tuple(data_shape)}; use '
                      f'an image dataset, or model.arch=pacgan_mlp for 2D mixtures')
  labels = d_cond = dict(conditioning=cond, num_classes=k)
  if arch == 'goodfellow_mnist':
    return GANModels(GoodfellowGenerator(out_shape=tuple(data_shape), output_bias=output_bias,
                                         num_classes=k, dtype=dtype),
                     GoodfellowDiscriminator(spectral_norm=sn, dtype=dtype, **d_cond),
                     noise_dim=int(c.get('noise_dim', 100)), noise='uniform', data_range=(0, 1),
                     **labels)
  if arch == 'pacgan_mlp':
    if tuple(data_shape) != (2,):
      raise ConfigError(f'pacgan_mlp models 2-D points, but the data has shape {data_shape}; '
                        f'use a mixture dataset (ring8 or grid25)')
    return GANModels(MixtureGenerator(bn_axis=bn_axis, num_classes=k, dtype=dtype),
                     MixtureDiscriminator(spectral_norm=sn, dtype=dtype, **d_cond),
                     noise_dim=int(c.get('noise_dim', 2)), noise='normal',
                     data_range=(-np.inf, np.inf), **labels)
  if arch.startswith('dcgan'):
    resolution = int(arch[5:]) if arch[5:].isdigit() else 0
    if resolution not in _DCGAN_STAGES:
      raise ConfigError(f'unknown architecture {arch!r}; choose one of {", ".join(ARCHITECTURES)}')
    h, w, ch = data_shape
    if (h, w) != (resolution, resolution):
      raise ConfigError(f'{arch} makes {resolution}x{resolution} images but the data is '
                        f'{h}x{w}; set data.image_size={resolution} or pick dcgan{h}')
    norm = c.get('d_norm', 'batch')
    if norm not in ('batch', 'none'):
      raise ConfigError(f"model.d_norm must be 'batch' or 'none', got {norm!r}")
    impl = c.get('conv_impl', 'auto')
    select.check('dcgan_conv', impl)
    return GANModels(
        DCGANGenerator(resolution, ch, int(c.get('ngf', 64)), bn_axis, impl, k, dtype=dtype),
        DCGANDiscriminator(resolution, int(c.get('ndf', 64)), norm, sn, bn_axis, impl,
                           dtype=dtype, **d_cond),
        noise_dim=int(c.get('noise_dim', 100)), noise='normal', data_range=(-1, 1), **labels)
  if arch in ('sngan28', 'sngan32', 'sngan64'):
    from jaxstyle.gan import resnet
    resolution = int(arch[5:])
    h, w, ch = data_shape
    if (h, w) != (resolution, resolution):
      raise ConfigError(f'{arch} makes {resolution}x{resolution} images but the data is '
                        f'{h}x{w}; set data.image_size={resolution}')
    # model.ngf / model.ndf are the ResNets' base widths (``ch``); 0 or unset: the
    # paper's for the resolution (resnet.G_CH / D_CH).
    return GANModels(
        resnet.SNGANGenerator(resolution=resolution, channels=ch,
                              ch=int(c.get('ngf', 0)) or None, num_classes=k, bn_axis=bn_axis,
                              dtype=dtype),
        resnet.SNGANDiscriminator(resolution=resolution, ch=int(c.get('ndf', 0)) or None,
                                  spectral_norm=sn, dtype=dtype, **d_cond),
        noise_dim=int(c.get('noise_dim', 128)), noise='normal', data_range=(-1, 1), **labels)
  raise ConfigError(f'unknown architecture {arch!r}; choose one of {", ".join(ARCHITECTURES)}')
