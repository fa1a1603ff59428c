"""Feed-forward networks against independent references (PyTorch, numpy formulas)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.feedforward import apply, convert, nets
from jaxstyle.kernels import kn2row
from tests import torch_reference


def test_transform_net_and_pth_conversion_equal_pytorch_examples():
  import torch
  torch.manual_seed(0)
  net = torch_reference.transformer_net((8, 12, 16), 2)
  with torch.no_grad():  # non-trivial instance-norm affine parameters
    for m in net.modules():
      if isinstance(m, torch.nn.InstanceNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
  state = {k: v.numpy() for k, v in net.state_dict().items()}
  state['in1.running_mean'] = np.zeros(8, np.float32)  # stale keys of old checkpoints
  model = convert.from_state_dict(state)
  assert model.net == dict(widths=[8, 12, 16], num_residual=2, output='linear', pixel_scale=255.0)
  x = np.random.default_rng(0).uniform(size=(2, 36, 44, 3)).astype(np.float32)
  with torch.no_grad():
    expected = net(torch.from_numpy(x * 255).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
  ours = apply.build_net('johnson', model.net).apply({'params': model.variables['params']}, x)
  np.testing.assert_allclose(np.asarray(ours) * 255, expected, rtol=1e-4, atol=2e-3)


def test_pth_file_reads_without_torch_and_stylises(tmp_path):
  import torch
  torch.manual_seed(1)
  net = torch_reference.transformer_net((4, 8, 8), 1)
  with torch.no_grad():  # outputs spread over 0..255 rather than all within 2 of 0
    net.deconv3.conv2d.weight.mul_(50.0)
    net.deconv3.conv2d.bias.fill_(127.5)
  torch.save(net.state_dict(), tmp_path / 'mosaic.pth')
  stylist = apply.load(tmp_path / 'mosaic.pth')
  img = np.random.default_rng(1).uniform(size=(30, 50, 3)).astype(np.float32)
  out = stylist(img)
  assert out.shape == img.shape  # (its range is [0, 1] by construction: the output is clipped)
  # At a bucket size (64 x 64: nothing padded) the output is the torch network's, clipped.
  square = np.random.default_rng(2).uniform(size=(64, 64, 3)).astype(np.float32)
  with torch.no_grad():
    expected = net(torch.from_numpy(square[None] * 255).permute(0, 3, 1, 2))
  expected = expected[0].permute(1, 2, 0).numpy() / 255
  assert ((expected > 0.05) & (expected < 0.95)).mean() > 0.5
  np.testing.assert_allclose(stylist(square), np.clip(expected, 0, 1), atol=1e-5)


def test_instance_norm_matches_its_formula():
  x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype(np.float32) * 3 + 1
  norm = nets.instance_norm()
  v = norm.init(jax.random.key(0), x)
  v = {'params': {'scale': jnp.array([1.0, 2.0, 0.5]), 'bias': jnp.array([0.0, 1.0, -1.0])}}
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)
  expected = (x - mean) / np.sqrt(var + 1e-5) * np.array([1, 2, .5]) + np.array([0, 1, -1])
  np.testing.assert_allclose(norm.apply(v, x), expected, rtol=1e-4, atol=1e-5)


def test_adain_gives_the_style_statistics_and_is_identity_for_own_statistics():
  rng = np.random.default_rng(0)
  c = rng.normal(size=(1, 6, 8, 4)).astype(np.float32)
  s = (rng.normal(size=(1, 10, 5, 4)) * [1, 2, 3, 4] + [0, 5, -5, 1]).astype(np.float32)
  t = np.asarray(nets.adain(jnp.asarray(c), jnp.asarray(s), eps=0.0))
  np.testing.assert_allclose(t.mean(axis=(1, 2)), s.mean(axis=(1, 2)), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(t.std(axis=(1, 2)), s.std(axis=(1, 2)), rtol=1e-4)
  np.testing.assert_allclose(nets.adain(c, c, eps=0.0), c, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_texture_net_is_fully_convolutional_and_noise_dependent():
  net = nets.TextureNet(num_scales=3, channels_per_scale=4)
  z = nets.texture_noise(jax.random.key(0), 2, (16, 16), 3)
  assert [a.shape for a in z] == [(2, 16, 16, 3), (2, 8, 8, 3), (2, 4, 4, 3)]
  v = net.init(jax.random.key(1), z, train=False)
  out = net.apply(v, z, train=False)
  assert out.shape == (2, 16, 16, 3)
  assert not np.allclose(out[0], out[1])  # different noise, different textures
  big = net.apply(v, nets.texture_noise(jax.random.key(2), 1, (40, 24), 3), train=False)
  assert big.shape == (1, 40, 24, 3)
  with pytest.raises(ConfigError, match='3 noise tensors'):
    net.apply(v, z[:2], train=False)


@pytest.mark.slow
def test_transform_net_downsamples_by_four_and_rejects_other_sizes():
  net = nets.TransformNet(widths=(4, 4, 8), num_residual=1)
  v = net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
  assert net.apply(v, jnp.zeros((1, 20, 28, 3))).shape == (1, 20, 28, 3)
  with pytest.raises(ConfigError, match='divisible by 4'):
    net.apply(v, jnp.zeros((1, 18, 16, 3)))


def test_adain_decoder_upsamples_relu4_1_features_by_eight():
  dec = nets.AdaINDecoder(widths=(8, 8, 4))
  f = jnp.zeros((2, 3, 5, 512))
  v = dec.init(jax.random.key(0), f)
  assert dec.apply(v, f).shape == (2, 24, 40, 3)


def test_reflect_padding_equals_numpy():
  x = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
  np.testing.assert_array_equal(nets.reflect_pad(x, 2),
                                np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode='reflect'))


def test_size_buckets_share_compiled_programs():
  assert apply.padded_side(250, 64, 4) == 256 and apply.padded_side(256, 64, 4) == 256
  assert apply.padded_side(257, 64, 4) == 320 and apply.padded_side(10, 64, 8) == 64
  assert apply.padded_side(30, 1, 4) == 32
  net_args = dict(widths=[4, 4, 8], num_residual=1, output='linear', pixel_scale=1.0)
  params = apply.build_net('johnson', net_args).init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
  from jaxstyle.feedforward.modelfile import SavedModel
  stylist = apply.load_model(SavedModel('johnson', net_args, {'params': params['params'],
                                                             'model_state': {}}, {}))
  rng = np.random.default_rng(0)
  a, b = rng.uniform(size=(50, 40, 3)), rng.uniform(size=(60, 33, 3))
  out_a, out_b = stylist([a, b])
  assert out_a.shape == a.shape and out_b.shape == b.shape
  assert stylist._apply._cache_size() == 1     # both in the 64x64 bucket, batch 2
  stylist(a)
  stylist(rng.uniform(size=(64, 64, 3)))
  assert stylist._apply._cache_size() == 2     # batch 1 in the same bucket
  # An image exactly at a bucket size is processed without padding: the direct output.
  img = rng.uniform(size=(64, 64, 3)).astype(np.float32)
  direct = apply.build_net('johnson', net_args).apply(params, img[None])[0]
  np.testing.assert_allclose(stylist(img), np.clip(direct, 0, 1), atol=1e-5)


def _tiny_johnson():
  """The small network of test_size_buckets_share_compiled_programs with zero variables:
  the tests using it look at programs and settings, not values (so nothing compiles)."""
  net_args = dict(widths=[4, 4, 8], num_residual=1, output='linear', pixel_scale=1.0)
  shapes = jax.eval_shape(apply.build_net('johnson', net_args).init, jax.random.key(0),
                          jnp.zeros((1, 8, 8, 3)))
  return net_args, jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def test_kn2row_formulation_matches_xla_in_values_and_gradients():
  net_args, v = _tiny_johnson()
  net = apply.build_net('johnson', net_args, inference=True, conv_impl='xla')
  fast = apply.build_net('johnson', net_args, inference=True, conv_impl='kn2row')
  x = jnp.zeros((2, 16, 20, 3))
  # kn2row replaces every stride-1 conv with few outputs for its size (here all six of
  # them); XLA keeps the two stride-2 ones. (The whole network's values against XLA's:
  # test_size_buckets_share_compiled_programs, whose stylist runs kn2row on CPU.)
  count = lambda n: str(jax.make_jaxpr(n.apply)(v, x)).count('conv_general_dilated')  # noqa: E731
  assert count(net) == 8 and count(fast) == 2
  # Values and gradients of one 3x3 layer (kn2row serves inference only: autodiff of a
  # whole network's kn2row convs compiles for minutes and needs a buffer per tap).
  rng = np.random.default_rng(1)
  xp = jnp.asarray(rng.normal(size=(2, 9, 7, 5)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  lax_conv = lambda x, w: jax.lax.conv_general_dilated(  # noqa: E731
      x, w, (1, 1), 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  loss = lambda conv: lambda x, w: jnp.sum(jnp.sin(conv(x, w)))  # noqa: E731
  np.testing.assert_allclose(kn2row.conv_kn2row(xp, w), lax_conv(xp, w), rtol=1e-5, atol=1e-5)
  got = jax.jit(jax.grad(loss(kn2row.conv_kn2row), (0, 1)))(xp, w)
  ref = jax.jit(jax.grad(loss(lax_conv), (0, 1)))(xp, w)
  for a, b in zip(got, ref):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_stylist_kernels_come_from_the_models_config_and_the_backend():
  from jaxstyle.feedforward.modelfile import SavedModel
  net_args, params = _tiny_johnson()
  model = lambda meta: SavedModel('johnson', net_args, {'params': params['params'],  # noqa: E731
                                                        'model_state': {}}, meta)
  assert apply.load_model(model({})).conv_impl == 'kn2row'          # 'auto' on this CPU
  forced = {'config': {'model': {'conv_impl': 'xla'}}}
  assert apply.load_model(model(forced)).net.conv_impl == 'xla'
  with pytest.raises(ConfigError, match='model.conv_impl must be one of auto, xla, kn2row'):
    apply.load_model(model({'config': {'model': {'conv_impl': 'winograd'}}}))
