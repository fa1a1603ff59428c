"""GAN networks: architectures against hand counts and a PyTorch transcription; layers."""


import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.gan import models, train
from jaxstyle.kernels import strided_conv


def build(arch, shape, **kw):
  # bn_axis=None: these models run outside pmap/shard_map (no named axis to sync over).
  return models.build(ml_collections.ConfigDict({'arch': arch, **kw}), shape, bn_axis=None)


def n_params(module, x, **kw):
  variables = module.init(jax.random.key(0), x, train=False, **kw)
  return train.count_params(variables['params'])


def test_goodfellow_parameter_counts_match_the_paper_architecture():
  m = build('goodfellow_mnist', (28, 28, 1))
  # G: 100 -> 1200 -> 1200 -> 784; D: maxout 784 -> 240x5, 240 -> 240x5, 240 -> 1.
  g_expected = (100 * 1200 + 1200) + (1200 * 1200 + 1200) + (1200 * 784 + 784)
  d_expected = (784 * 1200 + 1200) + (240 * 1200 + 1200) + (240 + 1)
  assert n_params(m.generator, jnp.zeros((2, 100))) == g_expected
  assert n_params(m.discriminator, jnp.zeros((2, 28, 28, 1))) == d_expected


def test_pacgan_mlp_parameter_counts_and_packing():
  m = build('pacgan_mlp', (2,))
  g_expected = 2 * 400 + 3 * 400 * 400 + 4 * 2 * 400 + (400 * 2 + 2)  # no-bias fc, BN, out
  assert n_params(m.generator, jnp.zeros((2, 2))) == g_expected
  d_in = lambda pack: (2 * pack * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201  # noqa: E731
  assert n_params(m.discriminator, jnp.zeros((2, 2))) == d_in(1)
  assert n_params(m.discriminator, train.pack_examples(jnp.zeros((8, 2)), 4)) == d_in(4)


def test_pack_examples_puts_m_examples_side_by_side():
  x = jnp.arange(4 * 3 * 3 * 2.0).reshape(4, 3, 3, 2)
  p = train.pack_examples(x, 2)
  assert p.shape == (2, 3, 3, 4)
  np.testing.assert_array_equal(p[1, 2, 0], jnp.concatenate([x[2, 2, 0], x[3, 2, 0]]))


# 64 px is checked layer by layer against a PyTorch transcription below; here the slow tier.
@pytest.mark.parametrize('res,ch', [(28, 1), pytest.param(32, 3, marks=pytest.mark.slow),
                                    pytest.param(64, 3, marks=pytest.mark.slow)])
def test_dcgan_shapes(res, ch):
  m = build(f'dcgan{res}', (res, res, ch))
  z = jnp.zeros((3, 100))
  gv = m.generator.init(jax.random.key(0), z, train=False)
  x = m.generator.apply(gv, z, train=False)
  assert x.shape == (3, res, res, ch)
  dv = m.discriminator.init(jax.random.key(1), x, train=False)
  assert m.discriminator.apply(dv, x, train=False).shape == (3,)


def test_dcgan64_counts_equal_pytorch_examples():
  # pytorch/examples dcgan: every conv without bias; BatchNorm weight + bias.
  m = build('dcgan64', (64, 64, 3))
  g = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16
  g += 2 * (512 + 256 + 128 + 64)
  d = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 16
  d += 2 * (128 + 256 + 512)
  assert n_params(m.generator, jnp.zeros((1, 100))) == g
  assert n_params(m.discriminator, jnp.zeros((1, 64, 64, 3))) == d


def test_architecture_and_size_mismatches_are_config_errors():
  with pytest.raises(ConfigError, match='dcgan32 makes 32x32 images but the data is 28x28'):
    build('dcgan32', (28, 28, 1))
  with pytest.raises(ConfigError, match='unknown architecture'):
    build('dcgan48', (48, 48, 3))
  with pytest.raises(ConfigError, match='pacgan_mlp models 2-D points'):
    build('pacgan_mlp', (28, 28, 1))


def test_spectral_norm_bounds_the_discriminator_layers():
  m = build('pacgan_mlp', (2,), spectral_norm=True)
  x = jax.random.normal(jax.random.key(0), (64, 2))
  variables = m.discriminator.init(jax.random.key(1), x, train=False)
  assert 'batch_stats' in variables
  # Run power iteration to convergence; each normalised weight then has sigma ~ 1.
  step = jax.jit(lambda v: m.discriminator.apply(v, x, train=True, mutable=['batch_stats'])[1])
  for _ in range(300):
    variables = {**variables, **step(variables)}
  sigmas = [float(v) for path, v in jax.tree_util.tree_flatten_with_path(variables['batch_stats'])[0]
            if 'sigma' in jax.tree_util.keystr(path)]
  kernels = [np.asarray(k) for path, k in jax.tree_util.tree_flatten_with_path(variables['params'])[0]
             if 'kernel' in jax.tree_util.keystr(path)]
  true = sorted(np.linalg.svd(k, compute_uv=False)[0] for k in kernels)
  np.testing.assert_allclose(sorted(sigmas), true, rtol=1e-3)


def test_goodfellow_dropout_keeps_the_stated_fractions():
  d = models.GoodfellowDiscriminator()
  x = jnp.ones((512, 784))
  keys = jax.vmap(jax.random.fold_in, (None, 0))(jax.random.key(0), jnp.arange(512))
  kept = models._dropout(x, 0.8, keys, 0)
  assert abs(float((kept > 0).mean()) - 0.8) < 0.01
  np.testing.assert_allclose(float(kept.max()), 1.25)
  v = d.init(jax.random.key(0), x[:2], train=False)
  a = d.apply(v, x[:4], train=True, example_keys=keys[:4])
  b = d.apply(v, x[:4], train=True, example_keys=keys[:4])
  np.testing.assert_array_equal(a, b)                    # masks come from the keys
  assert not np.allclose(a, d.apply(v, x[:4], train=False))


# --------------------------------------------------------------------------- layers vs torch

@pytest.mark.parametrize('impl', strided_conv.IMPLS)
def test_conv_layers_match_pytorch(impl):
  import torch
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 8, 6, 3)).astype(np.float32)
  k = rng.normal(size=(4, 4, 3, 5)).astype(np.float32)
  xt = torch.tensor(x).permute(0, 3, 1, 2)
  ref = torch.nn.functional.conv2d(xt, torch.tensor(k).permute(3, 2, 0, 1), stride=2, padding=1)
  np.testing.assert_allclose(strided_conv.conv4x4_stride2(x, k, impl),
                             ref.permute(0, 2, 3, 1).numpy(), atol=1e-4)
  ref = torch.nn.functional.conv_transpose2d(xt, torch.tensor(k).permute(2, 3, 0, 1), stride=2,
                                             padding=1)
  np.testing.assert_allclose(strided_conv.conv_transpose4x4(x, k, impl),
                             ref.permute(0, 2, 3, 1).numpy(), atol=1e-4)


def test_matmul_and_xla_layers_have_equal_gradients():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 6, 6, 4)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(4, 4, 4, 3)), jnp.float32)
  for fn in (strided_conv.conv4x4_stride2, strided_conv.conv_transpose4x4):
    grads = [jax.grad(lambda x, k: jnp.sum(jnp.sin(fn(x, k, impl))), (0, 1))(x, k)
             for impl in strided_conv.IMPLS]
    for other in grads[1:]:
      for a, b in zip(grads[0], other):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_dcgan64_generator_and_discriminator_equal_a_pytorch_transcription():
  import torch
  from torch import nn as tnn
  # pytorch/examples dcgan/main.py networks (nc=3, nz=100, ngf=ndf=8 to stay small).
  nz, ngf, ndf, nc = 100, 8, 8, 3
  tg = tnn.Sequential(
      tnn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), tnn.BatchNorm2d(ngf * 8), tnn.ReLU(),
      tnn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf * 4), tnn.ReLU(),
      tnn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf * 2), tnn.ReLU(),
      tnn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf), tnn.ReLU(),
      tnn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), tnn.Tanh())
  td = tnn.Sequential(
      tnn.Conv2d(nc, ndf, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2),
      tnn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 2), tnn.LeakyReLU(0.2),
      tnn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 4), tnn.LeakyReLU(0.2),
      tnn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 8), tnn.LeakyReLU(0.2),
      tnn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))
  m = build('dcgan64', (64, 64, 3), ngf=ngf, ndf=ndf)
  z = np.random.default_rng(0).normal(size=(4, nz)).astype(np.float32)
  gv = m.generator.init(jax.random.key(0), jnp.asarray(z), train=False)
  dv = m.discriminator.init(jax.random.key(1), jnp.zeros((4, 64, 64, 3)), train=False)
  g, d = gv['params'], dv['params']
  with torch.no_grad():
    # The projection is a transposed conv on a 1x1 input: kernel (nz, 4*4*C) in HWC order.
    w = np.asarray(g['project']['kernel']).reshape(nz, 4, 4, ngf * 8).transpose(0, 3, 1, 2)
    tg[0].weight.copy_(torch.tensor(w))
    for i, j in zip((1, 2, 3, 4), (3, 6, 9, 12)):
      tg[j].weight.copy_(torch.tensor(np.asarray(g[f'up{i}']['kernel']).transpose(2, 3, 0, 1)))
    for i, j in zip((0, 1, 2, 3), (1, 4, 7, 10)):
      tg[j].weight.copy_(torch.tensor(np.asarray(g[f'bn{i}']['scale'])))
      tg[j].bias.copy_(torch.tensor(np.asarray(g[f'bn{i}']['bias'])))
    for i, j in zip((0, 1, 2, 3), (0, 2, 5, 8)):
      td[j].weight.copy_(torch.tensor(np.asarray(d[f'down{i}']['kernel']).transpose(3, 2, 0, 1)))
    for i, j in zip((1, 2, 3), (3, 6, 9)):
      td[j].weight.copy_(torch.tensor(np.asarray(d[f'bn{i}']['scale'])))
      td[j].bias.copy_(torch.tensor(np.asarray(d[f'bn{i}']['bias'])))
    w = np.asarray(d['logit']['kernel']).reshape(4, 4, ndf * 8, 1).transpose(3, 2, 0, 1)
    td[11].weight.copy_(torch.tensor(w))
  tg.train(), td.train()  # batch statistics, as in training
  x_t = tg(torch.tensor(z)[:, :, None, None])
  x_j, _ = m.generator.apply(gv, jnp.asarray(z), train=True, mutable=['batch_stats'])
  np.testing.assert_allclose(x_j, x_t.detach().permute(0, 2, 3, 1).numpy(), atol=2e-5)
  logit_t = td(x_t).reshape(-1).detach().numpy()
  logit_j, _ = m.discriminator.apply(dv, x_j, train=True, mutable=['batch_stats'])
  np.testing.assert_allclose(logit_j, logit_t, rtol=1e-4, atol=1e-4)
