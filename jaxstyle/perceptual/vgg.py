"""VGG-16 / VGG-19 convolutional feature extractors (Flax Linen).

Layers are named as in Caffe and the Gatys papers: ``conv{b}_{i}`` (pre-activation),
``relu{b}_{i}`` and ``pool{b}``. The network runs only as far as the deepest
requested layer, and its weights are frozen: they enter through ``stop_gradient``
so no gradient flows to them, whatever the caller differentiates. Its 3x3 convolutions
are XLA's or ``kernels.conv3x3``'s, as ``conv_impl`` and ``kernels.select`` decide.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Iterable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError
from jaxstyle.kernels import conv3x3, select

CONVS_PER_BLOCK = {'vgg16': (2, 2, 3, 3, 3), 'vgg19': (2, 2, 4, 4, 4)}
BLOCK_CHANNELS = (64, 128, 256, 512, 512)
POOLINGS = ('max', 'avg')


def layer_names(arch: str) -> list[str]:
  """All layer names of ``arch`` in forward order."""
  check_arch(arch)
  names = []
  for block, n_convs in enumerate(CONVS_PER_BLOCK[arch], start=1):
    for i in range(1, n_convs + 1):
      names += [f'conv{block}_{i}', f'relu{block}_{i}']
    names.append(f'pool{block}')
  return names


def conv_names(arch: str) -> list[str]:
  """The convolution layer names of ``arch`` in forward order (conv1_1, conv1_2, ...)."""
  return [n for n in layer_names(arch) if n.startswith('conv')]


def channels(layer: str) -> int:
  """Number of feature channels N_l of a layer (``relu4_2`` -> 512)."""
  return BLOCK_CHANNELS[_block(layer) - 1]


def downsampling(layer: str) -> int:
  """Spatial stride of ``layer`` relative to the input (pool2 -> 4)."""
  block = _block(layer)
  return 2 ** (block if layer.startswith('pool') else block - 1)


def check_arch(arch: str) -> None:
  """Raises ConfigError unless ``arch`` is 'vgg16' or 'vgg19'."""
  if arch not in CONVS_PER_BLOCK:
    raise ConfigError(f'unknown VGG architecture {arch!r}: use one of '
                      f'{sorted(CONVS_PER_BLOCK)}')


def check_layers(arch: str, layers: Iterable[str]) -> None:
  """Raises ConfigError naming the first of ``layers`` that ``arch`` does not have
  (and ConfigError for an unknown ``arch``).
  """
  known = layer_names(arch)
  for layer in layers:
    if layer not in known:
      raise ConfigError(
          f'unknown layer {layer!r} for {arch}: names are conv{{b}}_{{i}}, '
          f'relu{{b}}_{{i}}, pool{{b}} (e.g. relu4_2); {arch} has '
          f'{", ".join(conv_names(arch))}')


def _block(layer: str) -> int:
  match = re.fullmatch(r'(?:conv|relu)(\d)_\d|pool(\d)', layer)
  return int(match.group(1) or match.group(2))


# -- 3x3 'SAME' convolutions with frozen weights ---------------------------------
#


@functools.partial(jax.jit, static_argnames='arch')
def derive(params: dict, arch: str) -> dict:
  """Weight-only precomputation for ``VGG`` (pass as the 'derived' collection)."""
  return {name: conv3x3.derive_kernel(params[name + '_kernel']) for name in conv_names(arch)}


def pool2x2(x_BHWC: jax.Array, kind: str) -> jax.Array:
  """2x2 stride-2 pooling; odd trailing rows/columns are dropped (Keras 'valid').

  Written as a reshape + reduction rather than ``reduce_window``: its gradient is
  then an elementwise mask instead of XLA's select-and-scatter, which is much slower
  on CPU (bench/bench_gatys.py measures it).
  """
  b, h, w, c = x_BHWC.shape
  x = x_BHWC[:, :h - h % 2, :w - w % 2, :].reshape(b, h // 2, 2, w // 2, 2, c)
  return x.max(axis=(2, 4)) if kind == 'max' else x.mean(axis=(2, 4))


class VGG(nn.Module):
  """VGG convolutional stack returning a dict of named activations.

  Attributes:
    arch: 'vgg16' or 'vgg19'.
    pooling: 'max' (the trained network) or 'avg' (Gatys et al. 2016).
    conv_impl: 'winograd' (``kernels.conv3x3``: precomputed input-gradient kernels,
      Winograd where faster), 'xla' (XLA's convolution and plain autodiff) or 'auto'
      (the backend's default, ``kernels.select.vgg_conv``). With 'winograd' pass
      ``{'params': p, 'derived': derive(p, arch)}`` to reuse the precomputation.
    dtype: the computation's dtype (bfloat16 for mixed precision); the weights stay
      float32 and are cast, the activations are of this dtype.
  """
  arch: str = 'vgg19'
  pooling: str = 'max'
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_BHWC: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
    check_layers(self.arch, layers)
    if self.pooling not in POOLINGS:
      raise ConfigError(f'pooling must be one of {POOLINGS}, got {self.pooling!r}')
    impl = select.vgg_conv(self.conv_impl)
    wanted = set(layers)
    order = layer_names(self.arch)
    last = max(order.index(name) for name in wanted)
    out = {}
    h = x_BHWC.astype(self.dtype)
    in_ch = x_BHWC.shape[-1]
    for name in order[:last + 1]:
      if name.startswith('conv'):
        out_ch = channels(name)
        kernel = self.param(name + '_kernel', nn.initializers.lecun_normal(),
                            (3, 3, in_ch, out_ch))
        bias = self.param(name + '_bias', nn.initializers.zeros, (out_ch,))
        kernel, bias = jax.lax.stop_gradient((kernel, bias))
        if impl == 'winograd':
          if self.has_variable('derived', name):
            derived = jax.lax.stop_gradient(self.get_variable('derived', name))
          else:
            derived = conv3x3.derive_kernel(kernel)
          derived = jax.tree.map(lambda k: k.astype(h.dtype), derived)
          h = conv3x3.conv3x3(h, derived) + bias.astype(h.dtype)
        else:
          h = conv3x3.direct_conv(h, kernel.astype(h.dtype)) + bias.astype(h.dtype)
        in_ch = out_ch
      elif name.startswith('relu'):
        h = jax.nn.relu(h)
      else:
        h = pool2x2(h, self.pooling)
      if name in wanted:
        out[name] = h
    return out


@functools.partial(jax.jit, static_argnames=('arch',))
def random_params(key: jax.Array, arch: str = 'vgg19') -> dict:
  """Randomly initialised parameters in the canonical layout (tests, benchmarks)."""
  deepest = layer_names(arch)[-1]
  x = jnp.zeros((1, 32, 32, 3), jnp.float32)
  return VGG(arch=arch).init(key, x, (deepest,))['params']


def to_params(convs: dict[str, tuple]) -> dict:
  """``{'conv1_1': (kernel_HWIO, bias)}`` -> the module's parameter dict."""
  params = {}
  for name, (kernel, bias) in convs.items():
    params[name + '_kernel'] = jnp.asarray(kernel, jnp.float32)
    params[name + '_bias'] = jnp.asarray(bias, jnp.float32)
  return params
