"""VGG forward pass against an independent scipy computation of the same weights."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from jaxstyle.kernels import conv3x3
from jaxstyle.perceptual import vgg
from tests.conftest import random_convs


def _numpy_vgg(x_HWC, convs, arch, pooling, upto):
  """Straightforward float64 VGG: scipy correlations, explicit pooling loops."""
  out = {}
  h = x_HWC.astype(np.float64)
  for name in vgg.layer_names(arch):
    if name.startswith('conv'):
      kernel, bias = convs[name]
      padded = np.pad(h, ((1, 1), (1, 1), (0, 0)))
      res = np.zeros(h.shape[:2] + (kernel.shape[-1],))
      for o in range(kernel.shape[-1]):
        for i in range(kernel.shape[2]):
          res[..., o] += signal.correlate2d(padded[..., i], kernel[:, :, i, o], mode='valid')
      h = res + bias
    elif name.startswith('relu'):
      h = np.maximum(h, 0)
    else:
      H, W = h.shape[0] // 2, h.shape[1] // 2
      blocks = h[:2 * H, :2 * W].reshape(H, 2, W, 2, -1)
      h = blocks.max(axis=(1, 3)) if pooling == 'max' else blocks.mean(axis=(1, 3))
    out[name] = h
    if name == upto:
      return out


@pytest.mark.parametrize('pooling', ['max', 'avg'])
def test_forward_matches_scipy(pooling):
  convs = {k: v for k, v in random_convs('vgg16', seed=1).items() if k < 'conv4'}
  x = np.random.default_rng(0).uniform(-100, 100, (18, 14, 3)).astype(np.float32)  # odd pooled sizes
  layers = ('conv1_2', 'relu2_1', 'pool2', 'relu3_3')
  got = vgg.VGG('vgg16', pooling).apply({'params': vgg.to_params(convs)}, x[None], layers)
  ref = _numpy_vgg(x, convs, 'vgg16', pooling, 'relu3_3')
  assert set(got) == set(layers)
  for name in layers:
    np.testing.assert_allclose(got[name][0], ref[name], rtol=1e-4, atol=1e-3 * np.abs(ref[name]).max())


def test_layer_names_and_channels():
  names = vgg.layer_names('vgg19')
  assert len(vgg.conv_names('vgg19')) == 16 and len(vgg.conv_names('vgg16')) == 13
  assert names[:5] == ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
  assert 'conv3_4' in names and 'conv3_4' not in vgg.layer_names('vgg16')
  assert vgg.channels('relu4_2') == 512 and vgg.downsampling('relu5_1') == 16
  assert vgg.downsampling('pool5') == 32 and vgg.downsampling('conv1_1') == 1


def test_unknown_layer_is_a_config_error():
  from jaxstyle.errors import ConfigError
  with pytest.raises(ConfigError, match='relu6_1'):
    vgg.check_layers('vgg19', ['relu6_1'])
  with pytest.raises(ConfigError, match='conv3_4'):
    vgg.check_layers('vgg16', ['conv3_4'])


def test_runs_only_up_to_deepest_requested_layer():
  params = vgg.to_params(random_convs('vgg19'))
  x = jnp.zeros((1, 32, 32, 3))
  jaxpr = jax.make_jaxpr(lambda x: vgg.VGG('vgg19').apply({'params': params}, x, ('relu2_1',)))(x)
  assert str(jaxpr).count('conv_general_dilated') == 3  # conv1_1, conv1_2, conv2_1


def test_no_gradient_reaches_the_weights():
  params = vgg.to_params(random_convs('vgg16'))
  x = jnp.ones((1, 16, 16, 3))
  f = lambda p: jnp.sum(vgg.VGG('vgg16').apply({'params': p}, x, ('relu3_1',))['relu3_1'])  # noqa
  grads = jax.grad(f)(params)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))


@pytest.mark.parametrize('shape', [(2, 9, 7, 5, 6),      # direct convolution
                                   (1, 11, 6, 128, 8),    # Winograd, odd height
                                   (1, 8, 8, 256, 130)])  # Winograd both ways
def test_fast_conv_and_input_gradient_match_autodiff(shape):
  b, h, w, c, o = shape
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(b, h, w, c)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(3, 3, c, o)) / np.sqrt(9 * c), jnp.float32)
  g = jnp.asarray(rng.normal(size=(b, h, w, o)), jnp.float32)
  derived = conv3x3.derive_kernel(k)
  np.testing.assert_allclose(conv3x3.conv3x3(x, derived), conv3x3.direct_conv(x, k), rtol=1e-4, atol=1e-4)
  fast = jax.grad(lambda x: jnp.vdot(conv3x3.conv3x3(x, derived), g))(x)
  plain = jax.grad(lambda x: jnp.vdot(conv3x3.direct_conv(x, k), g))(x)
  np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-4)


def test_winograd_network_matches_the_xla_network_in_values_and_gradients():
  params = vgg.to_params(random_convs('vgg16'))
  img = jnp.asarray(np.random.default_rng(1).uniform(-50, 50, (1, 40, 36, 3)), jnp.float32)

  def loss(model, variables):
    return lambda x: jnp.sum(model.apply(variables, x, ('relu4_1',))['relu4_1'] ** 2)

  fast = vgg.VGG('vgg16', conv_impl='winograd')
  plain = vgg.VGG('vgg16', conv_impl='xla')
  variables = {'params': params, 'derived': vgg.derive(params, 'vgg16')}
  fa = fast.apply(variables, img, ('relu4_1',))['relu4_1']
  fb = plain.apply({'params': params}, img, ('relu4_1',))['relu4_1']
  np.testing.assert_allclose(fa, fb, rtol=1e-4, atol=1e-4 * float(jnp.abs(fb).max()))
  ga = jax.grad(loss(fast, variables))(img)
  gb = jax.grad(loss(plain, {'params': params}))(img)
  gc = jax.grad(loss(fast, {'params': params}))(img)  # derived on the fly
  np.testing.assert_allclose(ga, gb, rtol=1e-3, atol=1e-3 * float(jnp.abs(gb).max()))
  np.testing.assert_allclose(gc, ga, rtol=1e-5, atol=1e-6 * float(jnp.abs(ga).max()))


@pytest.mark.skipif(importlib.util.find_spec('torch') is None, reason='torch not installed')
def test_forward_matches_pytorch():
  import torch
  convs = random_convs('vgg19', seed=3)
  x = np.random.default_rng(1).uniform(-100, 100, (32, 32, 3)).astype(np.float32)
  got = vgg.VGG('vgg19', 'avg').apply({'params': vgg.to_params(convs)}, x[None], ('relu5_1',))
  h = torch.from_numpy(x.transpose(2, 0, 1)[None].copy())
  for name in vgg.layer_names('vgg19'):
    if name.startswith('conv'):
      k, b = convs[name]
      h = torch.nn.functional.conv2d(h, torch.from_numpy(k.transpose(3, 2, 0, 1).copy()),
                                     torch.from_numpy(b), padding=1)
    elif name.startswith('relu'):
      h = torch.relu(h)
    else:
      h = torch.nn.functional.avg_pool2d(h, 2)
    if name == 'relu5_1':
      break
  ref = h[0].numpy().transpose(1, 2, 0)
  np.testing.assert_allclose(got['relu5_1'][0], ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
