"""Gatys et al.'s normalised VGG (jaxstyle.gatys.normalize) against a float64 PyTorch
forward pass of the same weights, written out here independently of jaxstyle's VGG."""

import numpy as np
import pytest

from jaxstyle.gatys import normalize
from jaxstyle.perceptual import vgg
from tests.conftest import random_convs

torch = pytest.importorskip('torch')


def _torch_vgg16(params, x_BHWC, pooling):
  """Every relu and the last pool of VGG-16 in float64: 3x3 convolutions with zero
  padding 1, relu, 2x2 stride-2 pooling dropping an odd last row/column."""
  h = torch.from_numpy(np.asarray(x_BHWC, np.float64).transpose(0, 3, 1, 2).copy())
  pool = torch.nn.functional.max_pool2d if pooling == 'max' else torch.nn.functional.avg_pool2d
  out = {}
  for block, n_convs in enumerate((2, 2, 3, 3, 3), start=1):
    for i in range(1, n_convs + 1):
      name = f'conv{block}_{i}'
      kernel = np.asarray(params[name + '_kernel'], np.float64)  # HWIO
      h = torch.nn.functional.conv2d(
          h, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()),
          torch.from_numpy(np.asarray(params[name + '_bias'], np.float64)), padding=1)
      h = torch.relu(h)
      out[f'relu{block}_{i}'] = h
    h = pool(h, 2)
    out[f'pool{block}'] = h
  return {k: v.numpy().transpose(0, 2, 3, 1) for k, v in out.items()}


def _mean_relus(params, inputs, pooling):
  """Per-channel mean of every relu over all positions of all inputs (pooled)."""
  sums, counts = {}, {}
  for x in inputs:
    for name, f in _torch_vgg16(params, x, pooling).items():
      if name.startswith('relu'):
        sums[name] = sums.get(name, 0.0) + f.sum(axis=(0, 1, 2))
        counts[name] = counts.get(name, 0) + f.shape[0] * f.shape[1] * f.shape[2]
  return {name: sums[name] / counts[name] for name in sums}


@pytest.fixture(scope='module')
def setup():
  params = vgg.to_params(random_convs('vgg16', seed=3))
  rng = np.random.default_rng(0)
  inputs = [rng.normal(0, 50, (1, 40, 48, 3)).astype(np.float32),
            rng.normal(0, 50, (1, 32, 32, 3)).astype(np.float32)]
  raw = {pooling: _mean_relus(params, inputs, pooling) for pooling in ('max', 'avg')}
  return params, inputs, raw


@pytest.mark.parametrize('pooling,min_fraction', [('max', 0.01), ('avg', 0.01), ('max', 0.5)])
def test_normalised_filters_have_mean_activation_one_unless_floored(setup, pooling, min_fraction):
  """Each filter's mean activation over the images becomes 1; a filter below
  ``min_fraction`` of its layer's average mean is divided by that floor instead (mean
  raw / floor < 1); a filter that never fires keeps scale 1 (and mean 0)."""
  params, inputs, raw = setup
  normalized, scales = normalize.normalize(params, 'vgg16', inputs, pooling, min_fraction)
  after = _mean_relus(normalized, inputs, pooling)
  total_live = total_floored = 0
  for conv in vgg.conv_names('vgg16'):
    relu = 'relu' + conv[4:]
    r = raw[pooling][relu]
    live = r > 0
    floor = min_fraction * r.mean()
    expected_scale = np.where(live, np.maximum(r, floor), 1.0)
    expected_mean = np.where(live, r / expected_scale, 0.0)
    np.testing.assert_allclose(after[relu], expected_mean, rtol=1e-3, atol=1e-6,
                               err_msg=conv)
    np.testing.assert_allclose(scales[conv], expected_scale, rtol=1e-3, err_msg=conv)
    total_live += live.sum()
    total_floored += (live & (r < floor)).sum()
  assert total_live > 0.5 * sum(vgg.channels(c) for c in vgg.conv_names('vgg16'))
  if min_fraction == 0.5:  # the floor rule is exercised, not just the 1/mean rule
    assert total_floored > 0.1 * total_live


@pytest.mark.parametrize('pooling', ['max', 'avg'])
def test_outputs_are_the_original_ones_divided_by_the_scales(setup, pooling):
  """On an image it was not normalised on, every relu (and the last pool) of the
  normalised network is the original network's divided per channel by that layer's
  scale: the compensation in the next layer is exact."""
  params, inputs, _ = setup
  normalized, scales = normalize.normalize(params, 'vgg16', inputs, pooling)
  x = np.random.default_rng(5).normal(0, 50, (1, 36, 36, 3)).astype(np.float32)
  before = _torch_vgg16(params, x, pooling)
  after = _torch_vgg16(normalized, x, pooling)
  for conv in vgg.conv_names('vgg16'):
    relu = 'relu' + conv[4:]
    expected = before[relu] / scales[conv]
    np.testing.assert_allclose(after[relu], expected, rtol=1e-5,
                               atol=1e-5 * np.abs(expected).max(), err_msg=relu)
  expected = before['pool5'] / scales['conv5_3']
  assert np.abs(expected).max() > 0
  np.testing.assert_allclose(after['pool5'], expected, rtol=1e-5,
                             atol=1e-5 * np.abs(expected).max())
