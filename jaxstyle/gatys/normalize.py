"""Gatys et al.'s normalised VGG: every filter rescaled to a mean activation of one.

"We normalized the network by scaling the weights such that the mean activation of
each convolutional filter over images and positions is equal to one" (Gatys, Ecker &
Bethge, CVPR 2016, section 2). It matters for reproducing their figures: their
content/style ratios (1e-5 .. 1e-2) assume these feature scales.

ReLU and max/average pooling commute with a positive per-channel scale, so dividing
filter c of layer l (kernel and bias) by its mean activation m_l[c] and multiplying
layer l+1's input channel c by m_l[c] leaves every later pre-activation unchanged.
Hence one forward pass of the original network gives all the means: layer l's new
kernel is ``W_l * m_{l-1}[in] / m_l[out]`` and its bias ``b_l / m_l[out]``.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import ConfigError
from jaxstyle.perceptual import vgg


def mean_activations(params: dict, arch: str, inputs: Sequence, pooling: str = 'max') -> dict:
  """Per-channel mean of every relu layer over the images and positions of ``inputs``
  (preprocessed network inputs, each (1, H, W, 3); positions of all images pooled)."""
  if not inputs:
    raise ConfigError('normalising the VGG weights needs at least one image')
  relus = tuple(f'relu{name[4:]}' for name in vgg.conv_names(arch))
  model = vgg.VGG(arch=arch, pooling=pooling, conv_impl='xla')
  forward = jax.jit(lambda p, x: model.apply({'params': p}, x, relus))
  sums, counts = {}, {}
  for x in inputs:
    feats = forward(params, jnp.asarray(x, jnp.float32))
    for layer, f in feats.items():
      s = np.asarray(jnp.sum(f, axis=(0, 1, 2)), np.float64)
      sums[layer] = sums.get(layer, 0.0) + s
      counts[layer] = counts.get(layer, 0) + f.shape[0] * f.shape[1] * f.shape[2]
  return {layer: sums[layer] / counts[layer] for layer in relus}


def normalize(params: dict, arch: str, inputs: Sequence, pooling: str = 'max',
              min_fraction: float = 0.01) -> tuple[dict, dict]:
  """(normalised params, {conv name: the per-filter scales divided out}).

  A filter that (almost) never fires on ``inputs`` would be blown up by 1/mean and then
  dominate every loss on other images; its scale is floored at ``min_fraction`` times
  its layer's average mean (a filter that never fires keeps its scale). Networks
  fine-tuned away from ImageNet have many such filters: on Tübingen and Starry Night at
  128 px, 53 of HED VGG-16's 128 relu2_2 filters are silent and the median filter's mean
  is 700x below the layer's average.
  """
  means = mean_activations(params, arch, inputs, pooling)
  out, scales = dict(params), {}
  previous = None
  for name in vgg.conv_names(arch):
    m = means[f'relu{name[4:]}']
    m = np.where(m > 0, np.maximum(m, min_fraction * m.mean()), 1.0)
    kernel = np.asarray(params[name + '_kernel'], np.float64)
    if previous is not None:
      kernel = kernel * previous[None, None, :, None]
    out[name + '_kernel'] = jnp.asarray(kernel / m, jnp.float32)
    out[name + '_bias'] = jnp.asarray(np.asarray(params[name + '_bias'], np.float64) / m,
                                      jnp.float32)
    scales[name] = m
    previous = m
  return out, scales
