"""SNGAN ResNets: hand-written numpy forwards of the blocks, parameter counts written out
layer by layer, the conditioning paths by hand, and spectral normalisation's unit norm."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jaxstyle.errors import ConfigError
from jaxstyle.gan import resnet

# ----------------------------------------------------------------- numpy reference layers


def _np_conv(x, kernel, bias):
  """'Same' convolution, stride 1, of x (B, H, W, Cin) with kernel (k, k, Cin, Cout)."""
  k = kernel.shape[0]
  p = k // 2
  b, h, w, _ = x.shape
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  out = np.zeros((b, h, w, kernel.shape[-1]))
  for i in range(k):
    for j in range(k):
      out += xp[:, i:i + h, j:j + w, :] @ kernel[i, j]
  return out + bias


def _np_bn(x, scale, bias):
  """Training-mode BatchNorm: batch statistics over B, H, W (biased variance), eps 1e-5;
  scale and bias (C,) or already gathered per example (B, 1, 1, C)."""
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  return (x - mean) / np.sqrt(var + 1e-5) * scale + bias


def _np_up(x):
  return x.repeat(2, axis=1).repeat(2, axis=2)


def _np_pool(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _relu(x):
  return np.maximum(x, 0)


def _np_params(variables):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), variables['params'])


def _variables(module, *args, seed=0, **kw):
  """Variables of ``module`` with the init's shapes but values drawn here by numpy:
  kernels N(0, 1/fan_in), biases N(0, 0.1^2), (conditional) BatchNorm scales 1 + N(0, 0.2^2)
  and biases N(0, 0.2^2), embeddings N(0, 0.5^2); statistics at their init (mean 0, var 1,
  sigma 1, u ~ N(0, 1)). Besides keeping the checks off init's zeros and ones, this skips
  compiling the init's random draws, which XLA:CPU takes seconds over for 4-D kernels.
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, train=False, **kw))

  def fill(path, s):
    name = path[-1].key
    if name in ('kernel', 'embedding'):
      std = 0.5 if name == 'embedding' else 1 / np.sqrt(np.prod(s.shape[:-1]))
      value = std * rng.standard_normal(s.shape)
    elif name in ('mean', 'sigma', 'var'):
      value = np.full(s.shape, 0.0 if name == 'mean' else 1.0)
    elif name == 'u':
      value = rng.standard_normal(s.shape)
    elif name == 'scale':
      value = 1 + 0.2 * rng.standard_normal(s.shape)
    else:  # biases
      value = (0.2 if path[-2].key.startswith('bn') else 0.1) * rng.standard_normal(s.shape)
    return jnp.asarray(value, s.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _normal(shape, seed=1):
  # numpy draws: XLA:CPU takes seconds to compile JAX's random draws of 4-D shapes.
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _count(tree):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


# ----------------------------------------------------------------- blocks against numpy


@pytest.mark.parametrize('num_classes', [0, 3])
def test_resblock_up_matches_a_numpy_forward(num_classes):
  x = _normal((3, 4, 4, 5), seed=0)
  y = jnp.array([2, 0, 1]) if num_classes else None
  block = resnet.ResBlockUp(6, num_classes=num_classes)
  v = _variables(block, x, y)
  got = _apply(block, v, x, y)
  p, xn = _np_params(v), np.asarray(x, np.float64)

  def bn(h, name):
    scale, bias = p[name]['scale'], p[name]['bias']
    if num_classes:  # per-class rows, gathered per example
      scale, bias = scale[np.asarray(y)][:, None, None, :], bias[np.asarray(y)][:, None, None, :]
    return _np_bn(h, scale, bias)

  # BN -> ReLU -> up -> conv3x3 -> BN -> ReLU -> conv3x3; shortcut up -> conv1x1.
  h = _relu(bn(xn, 'bn1'))
  h = _np_conv(_np_up(h), p['conv1']['kernel'], p['conv1']['bias'])
  h = _relu(bn(h, 'bn2'))
  h = _np_conv(h, p['conv2']['kernel'], p['conv2']['bias'])
  expected = h + _np_conv(_np_up(xn), p['shortcut']['kernel'], p['shortcut']['bias'])
  assert got.shape == (3, 8, 8, 6)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_resblock_down_and_optimized_block_match_a_numpy_forward():
  x = _normal((2, 8, 8, 5), seed=0)
  xn = np.asarray(x, np.float64)

  def run(block, x):
    v = _variables(block, x)
    return _apply(block, v, x), _np_params(v)

  def conv(p, name, h):
    return _np_conv(h, p[name]['kernel'], p[name]['bias'])

  # ResBlock-down, 5 -> 6: ReLU -> conv3x3 (hidden 5) -> ReLU -> conv3x3 -> pool;
  # shortcut conv1x1 -> pool.
  got, p = run(resnet.ResBlockDown(6, downsample=True, spectral_norm=False), x)
  assert p['conv1']['kernel'].shape == (3, 3, 5, 5)  # the hidden width is C_in
  main = _np_pool(conv(p, 'conv2', _relu(conv(p, 'conv1', _relu(xn)))))
  np.testing.assert_allclose(got, main + _np_pool(conv(p, 'shortcut', xn)), rtol=1e-4,
                             atol=1e-4)

  # ResBlock without downsampling, equal widths: the identity shortcut, no parameters.
  got, p = run(resnet.ResBlockDown(5, downsample=False, spectral_norm=False), x)
  assert set(p) == {'conv1', 'conv2'}
  main = conv(p, 'conv2', _relu(conv(p, 'conv1', _relu(xn))))
  np.testing.assert_allclose(got, main + xn, rtol=1e-4, atol=1e-4)

  # Widths change without downsampling: a 1x1 shortcut, no pooling.
  got, p = run(resnet.ResBlockDown(7, downsample=False, spectral_norm=False), x)
  main = conv(p, 'conv2', _relu(conv(p, 'conv1', _relu(xn))))
  np.testing.assert_allclose(got, main + conv(p, 'shortcut', xn), rtol=1e-4, atol=1e-4)

  # OptimizedBlock 5 -> 6: conv3x3 -> ReLU -> conv3x3 -> pool; shortcut pool -> conv1x1.
  got, p = run(resnet.OptimizedBlock(6, spectral_norm=False), x)
  main = _np_pool(conv(p, 'conv2', _relu(conv(p, 'conv1', xn))))
  np.testing.assert_allclose(got, main + conv(p, 'shortcut', _np_pool(xn)), rtol=1e-4,
                             atol=1e-4)


# ----------------------------------------------------------------- whole networks


def _apply(module, variables, *args, train=True):
  """``module.apply`` under jit (one compile instead of one per op), BatchNorm and
  spectral-norm statistics updated when ``train``."""
  run = jax.jit(lambda v, *a: module.apply(v, *a, train=train,
                                           mutable=['batch_stats'] if train else False))
  out = run(variables, *args)
  return out[0] if train else out


@pytest.mark.parametrize('res,channels', [(28, 1), (32, 3), (64, 3)])
def test_output_shapes_unconditional_and_conditional(res, channels):
  # Traced, not run (eval_shape): the forward passes run in the tests below.
  z, y = jnp.zeros((2, 128)), jnp.array([0, 2])
  for num_classes in (0, 3):
    g = resnet.SNGANGenerator(res, channels, ch=8, num_classes=num_classes)
    x = jax.eval_shape(lambda v: g.apply(v, z, y, train=True, mutable=['batch_stats'])[0],
                       _variables(g, z, y))
    assert (x.shape, x.dtype) == ((2, res, res, channels), jnp.float32)
  x = jnp.zeros(x.shape)
  for conditioning in ('none', 'projection', 'acgan'):
    d = resnet.SNGANDiscriminator(res, ch=8, conditioning=conditioning, num_classes=3)
    out = jax.eval_shape(lambda v: d.apply(v, x, y, train=True, mutable=['batch_stats'])[0],
                         _variables(d, x, y))
    logits = out[0] if conditioning == 'acgan' else out
    assert logits.shape == (2,)
    if conditioning == 'acgan':
      assert out[1].shape == (2, 3)


def test_init_is_glorot_uniform_with_gain_sqrt2_in_the_residual_branch():
  block = resnet.ResBlockUp(16)
  x = jnp.zeros((1, 4, 4, 16))
  params = jax.jit(lambda x: block.init(jax.random.key(3), x, train=False))(x)['params']
  for name, gain in (('conv1', np.sqrt(2)), ('conv2', np.sqrt(2)), ('shortcut', 1.0)):
    w = np.asarray(params[name]['kernel'])
    k = w.shape[0]
    bound = gain * np.sqrt(6 / (k * k * 16 + k * k * 16))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound, name
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.1), name
    assert not np.any(params[name]['bias'])
  assert np.all(params['bn1']['scale'] == 1) and not np.any(params['bn1']['bias'])


# Published parameter counts: none found. Searched Mimicry's README and tests, StudioGAN's
# pages, the SNGAN and projection papers' repositories (pfnet-research/sngan_projection),
# issue trackers: none states the SNGAN CIFAR-10 ResNet's parameter count. The check is
# the layer-by-layer sum below, against the networks of the authors' chainer code
# (gen_models/resnet_32.py, dis_models/snresnet_32.py; its 32 px D has no bias on the
# linear layer, one parameter fewer than here and in Mimicry).

def _conv(k, c_in, c_out):
  return k * k * c_in * c_out + c_out


def _dense(c_in, c_out):
  return c_in * c_out + c_out


def _bn(c, classes=1):
  return 2 * c * classes


def _g_block(c_in, c_out, classes=1):
  return (_bn(c_in, classes) + _conv(3, c_in, c_out) + _bn(c_out, classes)
          + _conv(3, c_out, c_out) + _conv(1, c_in, c_out))


def _d_block(c_in, c_out, learnable_shortcut):
  return (_conv(3, c_in, c_in) + _conv(3, c_in, c_out)
          + (_conv(1, c_in, c_out) if learnable_shortcut else 0))


def _d_optimized(c_in, c_out):
  return _conv(3, c_in, c_out) + _conv(3, c_out, c_out) + _conv(1, c_in, c_out)


def _counted(module, x, y=None):
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), x, y, train=False))
  return _count(shapes['params'])


def test_parameter_counts_equal_the_layer_by_layer_sums():
  z, x32, y = jnp.zeros((2, 128)), jnp.zeros((2, 32, 32, 3)), jnp.zeros((2,), jnp.int32)
  g32 = _dense(128, 4 * 4 * 256) + 3 * _g_block(256, 256) + _bn(256) + _conv(3, 256, 3)
  d32 = (_d_optimized(3, 128) + _d_block(128, 128, True) + 2 * _d_block(128, 128, False)
         + _dense(128, 1))
  cg32 = (_dense(128, 4 * 4 * 256) + 3 * _g_block(256, 256, classes=10) + _bn(256)
          + _conv(3, 256, 3))
  assert (g32, d32) == (4_276_739, 1_053_825)  # the counts stated in the brief
  counts = {
      'G32': (_counted(resnet.SNGANGenerator(32), z), g32),
      'D32': (_counted(resnet.SNGANDiscriminator(32), x32), d32),
      'cG32 (10 classes)': (_counted(resnet.SNGANGenerator(32, num_classes=10), z, y), cg32),
      'cG32 (10 classes, conditional final BN)': (
          _counted(resnet.SNGANGenerator(32, num_classes=10, conditional_final_bn=True), z, y),
          cg32 + _bn(256, 10) - _bn(256)),
      'D32 projection (10 classes)': (
          _counted(resnet.SNGANDiscriminator(32, conditioning='projection', num_classes=10),
                   x32, y), d32 + 10 * 128),
      'D32 acgan (10 classes)': (
          _counted(resnet.SNGANDiscriminator(32, conditioning='acgan', num_classes=10), x32, y),
          d32 + _dense(128, 10)),
      'G28 (1 channel)': (
          _counted(resnet.SNGANGenerator(28, channels=1), z),
          _dense(128, 7 * 7 * 256) + 2 * _g_block(256, 256) + _bn(256) + _conv(3, 256, 1)),
      'D28 (1 channel)': (
          _counted(resnet.SNGANDiscriminator(28), jnp.zeros((2, 28, 28, 1))),
          _d_optimized(1, 128) + _d_block(128, 128, True) + 2 * _d_block(128, 128, False)
          + _dense(128, 1)),
      'G64': (
          _counted(resnet.SNGANGenerator(64), z),
          _dense(128, 4 * 4 * 1024) + _g_block(1024, 512) + _g_block(512, 256)
          + _g_block(256, 128) + _g_block(128, 64) + _bn(64) + _conv(3, 64, 3)),
      'D64': (
          _counted(resnet.SNGANDiscriminator(64), jnp.zeros((2, 64, 64, 3))),
          _d_optimized(3, 64) + _d_block(64, 128, True) + _d_block(128, 256, True)
          + _d_block(256, 512, True) + _d_block(512, 1024, True) + _dense(1024, 1)),
  }
  for name, (got, expected) in counts.items():
    print(f'{name}: {got:,}')
    assert got == expected, name
  # The figures the class docstrings state.
  assert counts['cG32 (10 classes)'][0] == 4_304_387
  assert counts['D32 projection (10 classes)'][0] == 1_055_105
  assert counts['G64'][0] == 12_220_675 and counts['D64'][0] == 10_141_441


def test_conditional_generator_uses_y_only_through_the_batchnorm_gammas_and_betas():
  g = resnet.SNGANGenerator(28, 1, ch=8, num_classes=3)
  z = _normal((4, 128), seed=1)
  ya, yb = jnp.array([0, 1, 2, 0]), jnp.array([1, 2, 0, 2])
  v = _variables(g, z, ya)
  params = traverse_util.flatten_dict(v['params'])
  assert params[('bn', 'scale')].shape == (8,)  # the output BN stays plain
  per_class = [k for k, p in params.items() if k[-1] in ('scale', 'bias') and p.ndim == 2]
  assert len(per_class) == 2 * 2 * 2  # scale and bias of bn1, bn2 in 2 blocks
  assert all(params[k].shape == (3, 8) for k in per_class)

  def run(params, y):
    return _apply(g, {'params': traverse_util.unflatten_dict(params),
                      'batch_stats': v['batch_stats']}, z, y, train=False)

  assert float(jnp.abs(run(params, ya) - run(params, yb)).max()) > 1e-3
  # Every class given class 0's gammas and betas: the labels no longer matter.
  for k in per_class:
    params[k] = jnp.broadcast_to(params[k][:1], params[k].shape)
  np.testing.assert_array_equal(run(params, ya), run(params, yb))
  g_final = resnet.SNGANGenerator(28, 1, ch=8, num_classes=3, conditional_final_bn=True)
  assert _variables(g_final, z, ya)['params']['bn']['scale'].shape == (3, 8)


def _output_and_pooled_features(d, variables, x, y):
  """D's output, and h = the sum over H, W of ReLU(the last block's output) from the
  captured intermediates."""
  output, state = jax.jit(lambda v: d.apply(v, x, y, train=False, capture_intermediates=True,
                                            mutable=['intermediates']))(variables)
  last = max((k for k in state['intermediates'] if k.startswith('block')),
             key=lambda k: int(k[5:]))
  out = np.asarray(state['intermediates'][last]['__call__'][0], np.float64)
  return output, _relu(out).sum(axis=(1, 2))


def test_projection_and_acgan_outputs_by_hand():
  x = _normal((3, 32, 32, 3), seed=1)
  y = jnp.array([0, 3, 1])
  d = resnet.SNGANDiscriminator(32, ch=8, spectral_norm=False, conditioning='projection',
                                num_classes=4)
  v = _variables(d, x, y)
  p = _np_params(v)
  logits, h = _output_and_pooled_features(d, v, x, y)
  unconditional = h @ p['linear']['kernel'][:, 0] + p['linear']['bias'][0]
  projection = np.sum(p['class_embed']['embed']['embedding'][np.asarray(y)] * h, axis=1)
  assert np.abs(projection).min() > 1e-3  # the projection term is not negligible
  np.testing.assert_allclose(logits, unconditional + projection, rtol=1e-4, atol=1e-4)

  d = resnet.SNGANDiscriminator(32, ch=8, spectral_norm=False, conditioning='acgan',
                                num_classes=4)
  v = _variables(d, x, y)
  p = _np_params(v)
  (logits, class_logits), h = _output_and_pooled_features(d, v, x, y)
  assert logits.shape == (3,) and class_logits.shape == (3, 4)
  np.testing.assert_allclose(logits, h @ p['linear']['kernel'][:, 0] + p['linear']['bias'][0],
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(class_logits,
                             h @ p['classifier']['kernel'] + p['classifier']['bias'],
                             rtol=1e-4, atol=1e-4)


def test_spectral_norm_brings_every_effective_kernel_to_unit_norm():
  d = resnet.SNGANDiscriminator(32, ch=8, conditioning='projection', num_classes=3)
  x = _normal((2, 32, 32, 3), seed=1)
  y = jnp.array([0, 2])
  v = _variables(d, x, y)
  step = jax.jit(lambda v: d.apply(v, x, y, train=True, mutable=['batch_stats'])[1])
  stats = v['batch_stats']
  for _ in range(50):  # one power iteration per training call
    stats = step({'params': v['params'], 'batch_stats': stats})['batch_stats']
  params = traverse_util.flatten_dict(v['params'])
  # flax names the statistics '<layer>/kernel/sigma' inside the '<layer>_sn' wrapper.
  sigmas = {}
  for k, s in traverse_util.flatten_dict(stats).items():
    path = '/'.join(k).split('/')
    if path[-1] == 'sigma':
      sigmas[tuple(p for p in path[:-1] if not p.endswith('_sn'))] = float(s)
  # Every conv, the linear layer and the class embedding are normalised.
  matrices = {k for k, p in params.items() if p.ndim >= 2}
  assert set(sigmas) == matrices and len(matrices) == 3 + 3 + 2 + 2 + 1 + 1  # convs, linear, embed
  for k, sigma in sigmas.items():
    w = np.asarray(params[k], np.float64)
    effective = w.reshape(-1, w.shape[-1]) / sigma  # (kh * kw * in, out)
    assert np.linalg.norm(effective, 2) == pytest.approx(1.0, abs=2e-3), k


def test_bfloat16_compute_keeps_float32_parameters():
  z, y = _normal((2, 128), seed=1), jnp.array([0, 1])
  g = resnet.SNGANGenerator(28, 1, ch=8, num_classes=2, dtype=jnp.bfloat16)
  gv = _variables(g, z, y)
  x = _apply(g, gv, z, y)
  d = resnet.SNGANDiscriminator(28, ch=8, conditioning='projection', num_classes=2,
                                dtype=jnp.bfloat16)
  dv = _variables(d, x, y)
  logits = _apply(d, dv, x, y)
  assert x.dtype == jnp.bfloat16 and logits.dtype == jnp.bfloat16
  assert bool(jnp.all(jnp.isfinite(logits.astype(jnp.float32))))
  for leaf in jax.tree.leaves((gv['params'], dv['params'])):
    assert leaf.dtype == jnp.float32


def _init(module, *args):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), *args, train=False))


def test_configuration_mistakes_are_config_errors():
  z, x = jnp.zeros((2, 128)), jnp.zeros((2, 32, 32, 3))
  with pytest.raises(ConfigError, match='exists for 28, 32, 64 px images, got resolution=48'):
    _init(resnet.SNGANGenerator(48), z)
  with pytest.raises(ConfigError, match='pass the class labels y'):
    _init(resnet.SNGANGenerator(32, ch=8, num_classes=10), z)
  with pytest.raises(ConfigError, match="unknown conditioning 'concat'"):
    _init(resnet.SNGANDiscriminator(32, ch=8, conditioning='concat', num_classes=10), x)
  with pytest.raises(ConfigError, match='needs num_classes >= 2'):
    _init(resnet.SNGANDiscriminator(32, ch=8, conditioning='projection'), x, jnp.zeros(2, int))
  with pytest.raises(ConfigError, match='needs the class labels y'):
    _init(resnet.SNGANDiscriminator(32, ch=8, conditioning='acgan', num_classes=10), x)
  with pytest.raises(ConfigError, match='takes 64x64 images'):
    _init(resnet.SNGANDiscriminator(64, ch=8), x)
