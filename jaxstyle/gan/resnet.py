"""The SNGAN ResNet generator and discriminator (Miyato, Kataoka, Koyama, Yoshida,
ICLR 2018, appendix B.4), and their class-conditional forms (Miyato & Koyama, ICLR 2018:
conditional BatchNorm in G, a projection discriminator; or an AC-GAN head).

  28 px  (MNIST)     G: z -> dense -> 7x7xch -> 2 ResBlock-up -> 28x28
                     D: as at 32 px (the 7x7 map of ResBlock-down feeds two ResBlocks)
  32 px  (CIFAR-10)  the paper's networks, G ch=256, D ch=128
  64 px              the common port (Miyato's chainer sngan_projection resnet_64 /
                     snresnet_64, Mimicry sngan_64): ch=64, widths 16ch .. ch in G,
                     ch .. 16ch in D

Layer order, widths and init follow pfnet-research/sngan_projection (chainer), the
authors' code: nearest-neighbour x2 upsampling; 2x2 average-pool downsampling; every conv
3x3 pad 1 or 1x1, with bias; Glorot-uniform init with gain sqrt 2 for the convs inside
the residual branches and gain 1 for the shortcut convs, the dense layers and G's output
conv; biases zero. BatchNorm as PyTorch's defaults (flax momentum 0.9, eps 1e-5, scale 1,
bias 0), its statistics averaged over ``bn_axis`` when set (synchronised BatchNorm).
Parameters are float32; ``dtype`` is the compute dtype (bfloat16 for mixed precision).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxstyle.errors import ConfigError
from jaxstyle.gan import layers

RESOLUTIONS = (28, 32, 64)

# Default base widths: the paper's 256 (G) / 128 (D) at 32 px (and 28 px), the 64 px
# port's 64 for both.
G_CH = {28: 256, 32: 256, 64: 64}
D_CH = {28: 128, 32: 128, 64: 64}

# G: (side of the dense layer's map, its width / ch, each ResBlock-up's width / ch).
_G_STAGES = {28: (7, 1, (1, 1)), 32: (4, 1, (1, 1, 1)), 64: (4, 16, (8, 4, 2, 1))}
# D: (width / ch, downsample) of each block after the OptimizedBlock (width ch).
_D_STAGES = {28: ((1, True), (1, False), (1, False)),
             32: ((1, True), (1, False), (1, False)),
             64: ((2, True), (4, True), (8, True), (16, True))}


def _glorot(gain: float):
  """Glorot/Xavier uniform with ``gain`` (chainer GlorotUniform(scale=gain), PyTorch
  xavier_uniform_(gain)): U(+-gain sqrt(6 / (fan_in + fan_out)))."""
  return nn.initializers.variance_scaling(gain ** 2, 'fan_avg', 'uniform')


_GAIN_RESIDUAL = 2 ** 0.5


def _check_resolution(name: str, resolution: int) -> None:
  if resolution not in RESOLUTIONS:
    raise ConfigError(f'{name} exists for {", ".join(map(str, RESOLUTIONS))} px images, '
                      f'got resolution={resolution}; set data.image_size to one of them')


def _upsample(x):
  """Nearest-neighbour x2 (chainer unpooling_2d(2)): (B, H, W, C) -> (B, 2H, 2W, C)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _downsample(x):
  """2x2 average pooling, stride 2."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def _conv(features: int, size: int, gain: float, dtype, name: str) -> nn.Conv:
  pad = size // 2
  return nn.Conv(features, (size, size), padding=((pad, pad), (pad, pad)),
                 kernel_init=_glorot(gain), dtype=dtype, name=name)


def _sn(layer: nn.Module, spectral_norm: bool):
  """``layer`` as a function of (h, train), spectrally normalised (one power iteration
  per training call) when ``spectral_norm``."""
  if spectral_norm:
    return lambda h, train: nn.SpectralNorm(layer, name=f'{layer.name}_sn')(
        h, update_stats=train)
  return lambda h, train: layer(h)


def _sn_conv(features: int, size: int, gain: float, spectral_norm: bool, dtype, name: str):
  """``_conv`` as a function of (h, train), spectrally normalised when asked."""
  return _sn(_conv(features, size, gain, dtype, name), spectral_norm)


def _batch_norm(num_classes: int, bn_axis, dtype, name: str):
  """BatchNorm as a function of (h, y, train): plain, or ``layers.ConditionalBatchNorm``
  (per-class scale and bias) when ``num_classes`` > 0."""
  if num_classes:
    cbn = layers.ConditionalBatchNorm(num_classes, axis_name=bn_axis, dtype=dtype, name=name)
    return lambda h, y, train: cbn(h, y, train)

  def plain(h, y, train):
    del y
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=bn_axis if train else None, dtype=dtype, name=name)(h)
  return plain


# --------------------------------------------------------------------------- blocks

class ResBlockUp(nn.Module):
  """The generator's ResBlock-up, (B, H, W, C_in) -> (B, 2H, 2W, features):

    main      bn1 -> ReLU -> nearest x2 -> conv1 3x3 (features) -> bn2 -> ReLU
              -> conv2 3x3 (features)
    shortcut  nearest x2 -> shortcut 1x1 (features)
    output    main + shortcut

  bn1/bn2 are ``layers.ConditionalBatchNorm`` when ``num_classes`` > 0 (then ``y``, the
  (B,) class indices, is required), plain BatchNorm otherwise. Parameters per block:
  2 C_in + 2 features BN (times num_classes when conditional), 9 C_in features + features,
  9 features^2 + features, C_in features + features.
  """
  features: int
  num_classes: int = 0
  bn_axis: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    bn = lambda name: _batch_norm(self.num_classes, self.bn_axis, self.dtype, name)  # noqa: E731
    h = nn.relu(bn('bn1')(x, y, train))
    h = _conv(self.features, 3, _GAIN_RESIDUAL, self.dtype, 'conv1')(_upsample(h))
    h = nn.relu(bn('bn2')(h, y, train))
    h = _conv(self.features, 3, _GAIN_RESIDUAL, self.dtype, 'conv2')(h)
    return h + _conv(self.features, 1, 1.0, self.dtype, 'shortcut')(_upsample(x))


class ResBlockDown(nn.Module):
  """The discriminator's ResBlock (pre-activation), (B, H, W, C_in) -> (B, H/2, W/2,
  features) with ``downsample``, else (B, H, W, features):

    main      ReLU -> conv1 3x3 (C_in) -> ReLU -> conv2 3x3 (features) [-> avg-pool 2]
    shortcut  shortcut 1x1 (features) [-> avg-pool 2] when C_in != features or
              downsampling; the identity otherwise (no parameters)
    output    main + shortcut

  The hidden width is C_in (chainer's Block). Every conv is spectrally normalised when
  ``spectral_norm``.
  """
  features: int
  downsample: bool = True
  spectral_norm: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    c_in = x.shape[-1]
    sn, dtype = self.spectral_norm, self.dtype
    h = _sn_conv(c_in, 3, _GAIN_RESIDUAL, sn, dtype, 'conv1')(nn.relu(x), train)
    h = _sn_conv(self.features, 3, _GAIN_RESIDUAL, sn, dtype, 'conv2')(nn.relu(h), train)
    shortcut = x
    if c_in != self.features or self.downsample:
      shortcut = _sn_conv(self.features, 1, 1.0, sn, dtype, 'shortcut')(x, train)
    if self.downsample:
      h, shortcut = _downsample(h), _downsample(shortcut)
    return h + shortcut


class OptimizedBlock(nn.Module):
  """The discriminator's first block, (B, H, W, C_in) -> (B, H/2, W/2, features):

    main      conv1 3x3 (features) -> ReLU -> conv2 3x3 (features) -> avg-pool 2
    shortcut  avg-pool 2 -> shortcut 1x1 (features)
    output    main + shortcut

  No activation before conv1 (the input is the image). Every conv is spectrally
  normalised when ``spectral_norm``.
  """
  features: int
  spectral_norm: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    f, sn, dtype = self.features, self.spectral_norm, self.dtype
    h = nn.relu(_sn_conv(f, 3, _GAIN_RESIDUAL, sn, dtype, 'conv1')(x, train))
    h = _downsample(_sn_conv(f, 3, _GAIN_RESIDUAL, sn, dtype, 'conv2')(h, train))
    return h + _sn_conv(f, 1, 1.0, sn, dtype, 'shortcut')(_downsample(x), train)


# --------------------------------------------------------------------------- networks

class SNGANGenerator(nn.Module):
  """The SNGAN ResNet generator: z (B, nz) [+ y (B,) classes] -> tanh images (B, R, R,
  channels).

    dense       nz -> s*s*w0 (with bias), reshaped to (s, s, w0)
    block1..n   ResBlockUp(w_i) (see ``ResBlockUp``)
    bn          BatchNorm(w_n) -> ReLU
    conv_out    3x3 (channels) -> tanh

    28 px  s=7, w0=ch, blocks ch, ch                    (7 -> 14 -> 28)
    32 px  s=4, w0=ch, blocks ch, ch, ch                (4 -> 8 -> 16 -> 32)
    64 px  s=4, w0=16ch, blocks 8ch, 4ch, 2ch, ch       (4 -> ... -> 64)

  ``ch`` None takes the resolution's default (``G_CH``: 256, 256, 64). With
  ``num_classes`` > 0 every BatchNorm inside the blocks is ``layers.ConditionalBatchNorm``
  and ``y`` is required; the output ``bn`` stays a plain BatchNorm, as in the authors'
  conditional generator (sngan_projection gen_models/resnet_32.py and resnet_64.py, b5/b6;
  Mimicry cgan_pd_32 likewise) unless ``conditional_final_bn``. Without classes ``y`` is
  ignored. Init: Glorot uniform, gain sqrt 2 in the residual branches, 1 elsewhere.

  Parameters, 32 px, ch=256, nz=128, 3 channels (layer: count):
    dense 128 -> 4*4*256          128*4096 + 4096        =   528,384
    each ResBlockUp(256 -> 256)   bn1 512 + conv1 590,080 + bn2 512 + conv2 590,080
                                  + shortcut 65,792      = 1,246,976   (x 3 = 3,740,928)
    bn                            2*256                  =       512
    conv_out 3x3 256 -> 3         9*256*3 + 3            =     6,915
    total                                                  4,276,739
  Conditional, 10 classes: each block BN holds 10 * 2 * 256 = 5,120 instead of 512
  (+27,648): 4,304,387 (4,308,995 with ``conditional_final_bn``).
  28 px (ch=256, 1 channel): 4,114,945. 64 px (ch=64, 3 channels): 12,220,675.
  """
  resolution: int = 32
  channels: int = 3
  ch: int | None = None
  num_classes: int = 0
  conditional_final_bn: bool = False
  bn_axis: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    _check_resolution('SNGANGenerator', self.resolution)
    if self.num_classes and y is None:
      raise ConfigError(f'SNGANGenerator has num_classes={self.num_classes}: pass the class '
                        f'labels y, or set num_classes=0 for an unconditional generator')
    ch = self.ch or G_CH[self.resolution]
    side, mult0, mults = _G_STAGES[self.resolution]
    h = nn.Dense(side * side * mult0 * ch, kernel_init=_glorot(1.0), dtype=self.dtype,
                 name='dense')(z)
    h = h.reshape(z.shape[0], side, side, mult0 * ch)
    for i, mult in enumerate(mults, start=1):
      h = ResBlockUp(mult * ch, self.num_classes, self.bn_axis, self.dtype,
                     name=f'block{i}')(h, y, train)
    final_classes = self.num_classes if self.conditional_final_bn else 0
    h = nn.relu(_batch_norm(final_classes, self.bn_axis, self.dtype, 'bn')(h, y, train))
    h = _conv(self.channels, 3, 1.0, self.dtype, 'conv_out')(h)
    return jnp.tanh(h)


class SNGANDiscriminator(nn.Module):
  """The SNGAN ResNet discriminator: x (B, R, R, C) [+ y (B,) classes] -> logits (B,),
  or (logits, class_logits (B, num_classes)) for ``conditioning='acgan'``.

    block1      OptimizedBlock(ch)                      (R -> R/2)
    block2..n   ResBlockDown(w_i, downsample_i) (see ``ResBlockDown``)
    ReLU -> global sum pooling over H, W -> h (B, w_n)
    linear      w_n -> 1 (with bias) -> logits
    conditioning (``layers.conditional_output`` on h): 'none'; 'projection'
                logits + <class_embed(y), h>; 'acgan' classifier w_n -> num_classes

    28/32 px    blocks ch (down), ch, ch                (32 -> 16 -> 8 -> 8 -> 8)
    64 px       blocks 2ch, 4ch, 8ch, 16ch, all down    (64 -> 32 -> ... -> 2)

  ``ch`` None takes the resolution's default (``D_CH``: 128, 128, 64). With
  ``spectral_norm`` every conv, the linear layer, the class embedding and the AC-GAN
  classifier are spectrally normalised (power iteration state in 'batch_stats', one
  iteration per call with ``train``). ``example_keys`` is unused (the trainer's uniform
  call). Init: Glorot uniform, gain sqrt 2 in the residual branches, 1 elsewhere; the
  class embedding keeps ``layers.ClassEmbedding``'s N(0, 0.02).

  Parameters, 32 px, ch=128, 3 channels (layer: count):
    block1 OptimizedBlock(3 -> 128)  conv1 3,584 + conv2 147,584 + shortcut 512 = 151,680
    block2 ResBlockDown(128, down)   conv1 147,584 + conv2 147,584 + shortcut 16,512
                                                                               = 311,680
    block3, block4 ResBlock(128)     conv1 147,584 + conv2 147,584 (identity shortcut)
                                                                   = 295,168 (x 2 = 590,336)
    linear 128 -> 1                  128 + 1                                   =     129
    total                                                                   1,053,825
  Projection, 10 classes: + class_embed 10*128 = 1,280 -> 1,055,105; AC-GAN, 10 classes:
  + classifier 128*10 + 10 = 1,290 -> 1,055,115. (The authors' chainer 32 px D has no bias
  on the linear layer, 1 parameter fewer; Mimicry and the 64 px chainer D have it.)
  28 px (1 channel): 1,051,265. 64 px (ch=64, 3 channels): 10,141,441.
  """
  resolution: int = 32
  ch: int | None = None
  spectral_norm: bool = True
  conditioning: str = 'none'
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, y=None, train: bool = True, example_keys=None):
    del example_keys
    _check_resolution('SNGANDiscriminator', self.resolution)
    if self.conditioning not in layers.CONDITIONINGS:
      raise ConfigError(f'unknown conditioning {self.conditioning!r}; choose one of '
                        f'{", ".join(layers.CONDITIONINGS)}')
    if self.conditioning != 'none':
      if self.num_classes < 2:
        raise ConfigError(f"conditioning '{self.conditioning}' needs num_classes >= 2, got "
                          f'{self.num_classes}; set num_classes to the number of classes')
      if y is None:
        raise ConfigError(f"conditioning '{self.conditioning}' needs the class labels y; "
                          f"pass y or set conditioning='none'")
    if x.ndim != 4 or x.shape[1:3] != (self.resolution, self.resolution):
      raise ConfigError(f'SNGANDiscriminator(resolution={self.resolution}) takes '
                        f'{self.resolution}x{self.resolution} images (B, H, W, C), got shape '
                        f'{tuple(x.shape)}; set resolution to the data image size')
    ch = self.ch or D_CH[self.resolution]
    h = OptimizedBlock(ch, self.spectral_norm, self.dtype, name='block1')(x, train)
    for i, (mult, down) in enumerate(_D_STAGES[self.resolution], start=2):
      h = ResBlockDown(mult * ch, down, self.spectral_norm, self.dtype,
                       name=f'block{i}')(h, train)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    linear = nn.Dense(1, kernel_init=_glorot(1.0), dtype=self.dtype, name='linear')
    logits = _sn(linear, self.spectral_norm)(h, train)[:, 0]
    return layers.conditional_output(self, h, logits, y, self.conditioning, self.num_classes,
                                     self.spectral_norm, train, dtype=self.dtype,
                                     kernel_init=_glorot(1.0))
