"""Gatys et al.'s normalised VGG (jaxstyle.normalize)."""

import numpy as np
import pytest

from jaxstyle import normalize, vgg
from tests.conftest import random_convs


@pytest.fixture(scope='module')
def setup():
  params = vgg.to_params(random_convs('vgg16', seed=3))
  rng = np.random.default_rng(0)
  inputs = [rng.normal(0, 50, (1, 40, 48, 3)).astype(np.float32),
            rng.normal(0, 50, (1, 32, 32, 3)).astype(np.float32)]
  return params, inputs


@pytest.mark.parametrize('pooling', ['max', 'avg'])
def test_every_live_filter_has_mean_activation_one(setup, pooling):
  params, inputs = setup
  normalized, scales = normalize.normalize(params, 'vgg16', inputs, pooling, min_fraction=0.0)
  means = normalize.mean_activations(normalized, 'vgg16', inputs, pooling)
  for conv in vgg.conv_names('vgg16'):
    m = means[f'relu{conv[4:]}']
    live = scales[conv] != 1.0
    assert live.mean() > 0.5, conv
    np.testing.assert_allclose(m[live], 1.0, rtol=5e-3, err_msg=conv)


def test_features_are_the_original_ones_divided_by_the_means(setup):
  """On an image it was not normalised on, every layer's features are the original
  network's divided per channel by that layer's means (the compensation is exact)."""
  params, inputs = setup
  normalized, scales = normalize.normalize(params, 'vgg16', inputs, 'max')
  x = np.random.default_rng(5).normal(0, 50, (1, 36, 36, 3)).astype(np.float32)
  layers = ('relu1_2', 'relu3_1', 'relu5_3')
  model = vgg.VGG(arch='vgg16', pooling='max', fast_input_grad=False)
  before = model.apply({'params': params}, x, layers)
  after = model.apply({'params': normalized}, x, layers)
  for layer in layers:
    m = scales['conv' + layer[4:]]
    np.testing.assert_allclose(np.asarray(after[layer]), np.asarray(before[layer]) / m,
                               rtol=1e-3, atol=1e-4 * float(np.abs(before[layer]).max() / m.min()))


def test_nearly_silent_filters_are_floored_not_blown_up(setup):
  params, inputs = setup
  raw = normalize.mean_activations(params, 'vgg16', inputs, 'max')
  _, floored = normalize.normalize(params, 'vgg16', inputs, 'max', min_fraction=0.5)
  for conv in vgg.conv_names('vgg16'):
    m = raw['relu' + conv[4:]]
    live = m > 0
    expected = np.maximum(m[live], 0.5 * m.mean())
    np.testing.assert_allclose(floored[conv][live], expected, rtol=1e-6, err_msg=conv)
    np.testing.assert_array_equal(floored[conv][~live], 1.0)
