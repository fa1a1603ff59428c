"""Feed-forward style networks (Flax Linen), all fully convolutional, RGB [0, 1] in and out.

* ``TransformNet`` -- Johnson, Alahi & Fei-Fei (2016) with Ulyanov et al.'s instance
  normalisation, laid out as pytorch/examples' ``TransformerNet``: 9x9 conv 32, 3x3
  stride-2 convs 64 and 128, five residual blocks, two (nearest x2 upsample + 3x3 conv)
  stages 64 and 32, 9x9 conv to RGB; reflection padding everywhere.
* ``TextureNet`` -- Ulyanov, Lebedev, Vedaldi & Lempitsky (2016), "Texture Networks":
  noise at K scales, each through a conv block (3x3, 3x3, 1x1; norm; LeakyReLU), joined
  coarse to fine by nearest upsampling, normalisation and channel concatenation, then a
  1x1 conv to RGB. Larger noise gives a larger texture.
* ``AdaINDecoder`` + ``adain`` -- Huang & Belongie (2017): the decoder mirrors VGG-19 up
  to relu4_1 with nearest upsampling in place of pooling.

Every network takes ``dtype``, the dtype of its activations and convolutions (bfloat16 for
mixed precision, ``jaxstyle.runtime.precision``); parameters are float32 either way, and
the convolution to RGB computes in float32: bfloat16's 8-bit mantissa would round a
0..255 output to steps of 1 (and a [0, 1] one to ~1/255), noise that the total-variation
loss and the loss network see. The
convolutions of ``TransformNet`` and ``AdaINDecoder`` take ``conv_impl``: 'xla', 'kn2row'
(``kernels.kn2row`` where it suits the layer, for inference) or 'auto' (the backend's
default, ``kernels.select.feedforward_conv``).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError
from jaxstyle.kernels import kn2row, select


def reflect_pad(x_BHWC: jax.Array, pad: int) -> jax.Array:
  """Reflection-pads H and W of an NHWC batch by ``pad`` px on each side (PyTorch's
  ``ReflectionPad2d``); ``pad=0`` returns the input unchanged."""
  if pad == 0:
    return x_BHWC
  return jnp.pad(x_BHWC, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


def upsample2x(x_BHWC: jax.Array) -> jax.Array:
  """Nearest-neighbour x2 (``nn.Upsample(mode='nearest')``)."""
  return jnp.repeat(jnp.repeat(x_BHWC, 2, axis=1), 2, axis=2)


class _Conv(nn.Module):
  """A convolution with nn.Conv's parameters (kernel HWIO, bias) and a choice of kernels."""
  features: int
  kernel: int
  stride: int
  use_bias: bool
  bias_init: float
  impl: str
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    w = self.param('kernel', nn.initializers.lecun_normal(),
                   (self.kernel, self.kernel, c_in, self.features))
    x, w = x.astype(self.dtype), w.astype(self.dtype)
    if select.feedforward_conv(self.impl) == 'kn2row' and \
        kn2row.suits(self.kernel, self.stride, self.features):
      y = kn2row.conv_kn2row(x, w)
    else:
      y = jax.lax.conv_general_dilated(x, w, (self.stride, self.stride), 'VALID',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if self.use_bias:
      bias = self.param('bias', nn.initializers.constant(self.bias_init), (self.features,))
      y = y + bias.astype(self.dtype)
    return y


class ReflectConv(nn.Module):
  """Reflection padding of kernel // 2, then a 'VALID' convolution (pytorch/examples'
  ``ConvLayer``): with stride 2 an H x W map becomes ceil(H/2) x ceil(W/2).

  Convolutions followed by instance or batch normalisation have no bias: the
  normalisation subtracts any per-channel constant, so such a bias has no effect on the
  output and a zero gradient up to rounding -- which Adam would turn into steps of full
  size in random directions.
  """
  features: int
  kernel: int
  stride: int = 1
  use_bias: bool = True
  bias_init: float = 0.0
  impl: str = 'xla'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = reflect_pad(x, self.kernel // 2)
    return _Conv(self.features, self.kernel, self.stride, self.use_bias, self.bias_init,
                 self.impl, self.dtype, name='Conv_0')(x)


def normed_conv(features: int, kernel: int, stride: int = 1, impl: str = 'xla',
                dtype: Any = jnp.float32) -> ReflectConv:
  """A bias-free ``ReflectConv`` for convolutions followed by a normalisation
  (the bias would be cancelled; see ``ReflectConv``).
  """
  return ReflectConv(features, kernel, stride, use_bias=False, impl=impl, dtype=dtype)


def instance_norm(use_bias: bool = True, dtype: Any = jnp.float32):
  """Instance normalisation matching PyTorch's ``InstanceNorm2d(affine=True)``;
  ``use_bias=False`` drops the shift where a later normalisation cancels it. Its
  statistics are float32 whatever ``dtype`` (Flax reduces in float32).
  """
  # PyTorch's InstanceNorm2d(affine=True): biased variance, eps 1e-5, per-channel affine.
  return nn.InstanceNorm(epsilon=1e-5, use_bias=use_bias, dtype=dtype)


class ResidualBlock(nn.Module):
  """Johnson's residual block: x + IN(conv3x3(ReLU(IN(conv3x3(x))))), ``features``
  channels in and out, reflection padding, no ReLU after the sum.
  """
  features: int
  conv_impl: str = 'xla'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = lambda: normed_conv(self.features, 3, impl=self.conv_impl, dtype=self.dtype)  # noqa: E731
    h = nn.relu(instance_norm(dtype=self.dtype)(conv()(x)))
    # No shift here: the residual stream reaches the next normalisation only through
    # convolutions and sums, so a per-channel constant added to it is cancelled there.
    h = instance_norm(use_bias=False, dtype=self.dtype)(conv()(h))
    return x + h


class TransformNet(nn.Module):
  """Johnson et al.'s image transformation network.

  Attributes:
    widths: channels of the three downsampling convs (32, 64, 128 in the paper).
    num_residual: residual blocks (5).
    output: 'linear' (pytorch/examples: no output nonlinearity) or 'tanh' (the paper's
      scaled tanh, here mapped onto [0, 1]).
    pixel_scale: the pixel range inside the network: 255 (the default) computes in
      0..255 like pytorch/examples, so that weights convert both ways and a freshly
      initialised network outputs values of about +-1 on that scale, i.e. a nearly
      black image, rather than +-1 on the [0, 1] scale: a wild image whose style loss
      is ~1e4 times larger and costs the first hundreds of steps. The interface is
      RGB [0, 1] either way. The last convolution's bias starts at mid-gray
      (0.5 x pixel_scale): otherwise Adam, moving each weight by ~lr per step, needs
      a hundred or more steps just to lift the output from black to the content's
      brightness. (An initialisation choice only; converted weights replace it.)
  """
  widths: Sequence[int] = (32, 64, 128)
  num_residual: int = 5
  output: str = 'linear'
  pixel_scale: float = 255.0
  conv_impl: str = 'xla'   # 'auto' for inference (jaxstyle.feedforward.apply)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_BHWC):
    if self.output not in ('linear', 'tanh'):
      raise ConfigError(f"model.output must be 'linear' or 'tanh', got {self.output!r}")
    if x_BHWC.shape[1] % 4 or x_BHWC.shape[2] % 4:
      raise ConfigError(f'TransformNet needs sides divisible by 4, got {x_BHWC.shape[1:3]} '
                        f'(jaxstyle.feedforward.apply pads images to size buckets)')
    w1, w2, w3 = self.widths
    h = x_BHWC * self.pixel_scale
    impl, dt = self.conv_impl, self.dtype
    norm = lambda: instance_norm(dtype=dt)  # noqa: E731
    h = nn.relu(norm()(normed_conv(w1, 9, impl=impl, dtype=dt)(h)))
    h = nn.relu(norm()(normed_conv(w2, 3, 2, impl=impl, dtype=dt)(h)))
    h = nn.relu(norm()(normed_conv(w3, 3, 2, impl=impl, dtype=dt)(h)))
    for _ in range(self.num_residual):
      h = ResidualBlock(w3, impl, dt)(h)
    h = nn.relu(norm()(normed_conv(w2, 3, impl=impl, dtype=dt)(upsample2x(h))))
    h = nn.relu(norm()(normed_conv(w1, 3, impl=impl, dtype=dt)(upsample2x(h))))
    y = ReflectConv(3, 9, bias_init=0.5 * self.pixel_scale if self.output == 'linear' else 0.0,
                    impl=impl, dtype=jnp.float32)(h)  # float32 output: see the module docstring
    if self.output == 'tanh':
      return 0.5 * (jnp.tanh(y) + 1.0)
    return y / self.pixel_scale


# --------------------------------------------------------------------------- texture

class _Norm(nn.Module):
  kind: str
  axis_name: str | None = None
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    if self.kind == 'batch':
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                          use_bias=self.use_bias, dtype=self.dtype,
                          axis_name=self.axis_name if train else None)(x)
    if self.kind == 'instance':
      return instance_norm(self.use_bias, self.dtype)(x)
    raise ConfigError(f"model.norm must be 'batch' or 'instance', got {self.kind!r}")


class _ConvBlock(nn.Module):
  features: int
  norm: str
  axis_name: str | None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for k in (3, 3, 1):
      x = normed_conv(self.features, k, dtype=self.dtype)(x)
      x = nn.leaky_relu(_Norm(self.norm, self.axis_name, dtype=self.dtype)(x, train), 0.01)
    return x


class TextureNet(nn.Module):
  """Multi-scale texture generator; ``noise`` lists the K inputs, finest first.

  ``noise[k]`` has shape (B, H / 2^k, W / 2^k, noise_channels). Channels grow by
  ``channels_per_scale`` at every join (8, 16, ..., 8K in the paper).
  """
  num_scales: int = 6
  channels_per_scale: int = 8
  noise_channels: int = 3
  norm: str = 'batch'
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, noise: Sequence[jax.Array], train: bool = False):
    if len(noise) != self.num_scales:
      raise ConfigError(f'TextureNet takes {self.num_scales} noise tensors, got {len(noise)}')
    c, dt = self.channels_per_scale, self.dtype
    y = _ConvBlock(c, self.norm, self.axis_name, dt)(noise[-1], train)
    for k in range(self.num_scales - 2, -1, -1):
      z = _ConvBlock(c, self.norm, self.axis_name, dt)(noise[k], train)
      up = upsample2x(y)[:, :z.shape[1], :z.shape[2]]
      # Unshifted: the join feeds a convolution and a normalisation, which cancel shifts.
      y = jnp.concatenate([_Norm(self.norm, self.axis_name, False, dt)(up, train),
                           _Norm(self.norm, self.axis_name, False, dt)(z, train)], axis=-1)
      y = _ConvBlock(y.shape[-1], self.norm, self.axis_name, dt)(y, train)
    return nn.Conv(3, (1, 1), dtype=jnp.float32)(y)   # float32 output: see the module docstring


def texture_noise(key: jax.Array, batch: int, size_hw: tuple[int, int], num_scales: int,
                  channels: int = 3) -> list[jax.Array]:
  """Uniform [0, 1) noise at sizes ceil(size / 2^k), k = 0 .. num_scales - 1."""
  h, w = size_hw
  out = []
  for k in range(num_scales):
    f = 2 ** k
    out.append(jax.random.uniform(jax.random.fold_in(key, k),
                                  (batch, -(-h // f), -(-w // f), channels)))
  return out


# --------------------------------------------------------------------------- AdaIN

def channel_mean_std(f_BHWC: jax.Array, eps: float = 1e-5):
  """Per-image, per-channel mean and standard deviation over positions, (B, 1, 1, C)."""
  mean = jnp.mean(f_BHWC, axis=(1, 2), keepdims=True)
  var = jnp.var(f_BHWC, axis=(1, 2), keepdims=True)
  return mean, jnp.sqrt(var + eps)


def adain(content_BHWC: jax.Array, style_BHWC: jax.Array, eps: float = 1e-5) -> jax.Array:
  """Adaptive instance normalisation: content features with the style's channel statistics.

  ``sigma(s) (c - mu(c)) / sigma(c) + mu(s)``; the two maps may differ in size.
  """
  mc, sc = channel_mean_std(content_BHWC, eps)
  ms, ss = channel_mean_std(style_BHWC, eps)
  return (content_BHWC - mc) / sc * ss + ms


class AdaINDecoder(nn.Module):
  """relu4_1 features (B, H/8, W/8, 512) -> RGB (B, H, W, 3), the mirror of VGG-19."""
  widths: Sequence[int] = (256, 128, 64)
  conv_impl: str = 'xla'   # 'auto' for inference (jaxstyle.feedforward.apply)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, f_BHWC):
    w3, w2, w1 = self.widths
    conv = lambda features: ReflectConv(features, 3, impl=self.conv_impl,  # noqa: E731
                                        dtype=self.dtype)
    h = nn.relu(conv(w3)(f_BHWC))
    h = upsample2x(h)
    for _ in range(3):
      h = nn.relu(conv(w3)(h))
    h = nn.relu(conv(w2)(h))
    h = upsample2x(h)
    h = nn.relu(conv(w2)(h))
    h = nn.relu(conv(w1)(h))
    h = upsample2x(h)
    h = nn.relu(conv(w1)(h))
    return ReflectConv(3, 3, impl=self.conv_impl, dtype=jnp.float32)(h)   # float32 output
