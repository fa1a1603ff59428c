"""The per-device GAN step: 1 vs 8 devices, pmap vs shard_map, sync BatchNorm, errors."""

import jax
import ml_collections
import numpy as np
import pytest

from jaxstyle.errors import ConfigError
from jaxstyle.gan import models, train
from jaxstyle.runtime import parallel

SGD = ml_collections.ConfigDict(dict(name='goodfellow_sgd', lr=0.05, lr_decay_factor=1.0,
                                     min_lr=0.0, momentum_start=0.5, momentum_end=0.5,
                                     momentum_saturate_steps=1))
ADAM = ml_collections.ConfigDict(dict(name='adam', lr=2e-4, b1=0.5, b2=0.999))


def trainer(arch, shape, opt=SGD, **step_kw):
  m = models.build(ml_collections.ConfigDict({'arch': arch, 'ngf': 8, 'ndf': 8}), shape)
  return train.GANTrainer(m, train.StepConfig(**step_kw), train.make_optimizer(opt),
                          train.make_optimizer(opt))


def run_steps(tr, shape, batch, devices, mode='pmap', steps=2):
  state = tr.init(0, shape)
  if devices == len(jax.devices()):
    dp = parallel.DataParallel(tr.step, mode)
    state = dp.put_state(state)
    call = dp
  else:
    fn = jax.pmap(tr.step, axis_name='batch', in_axes=(None, 1), out_axes=(None, None),
                  devices=jax.devices()[:devices])
    call = lambda s, b: fn(s, b.reshape(b.shape[0], devices, -1, *b.shape[2:]))  # noqa: E731
  history = []
  for _ in range(steps):
    state, metrics = call(state, batch)
    history.append(jax.device_get(metrics))
  return jax.device_get(state), history


CASES = [
    ('pacgan_mlp', (2,), dict(loss='non_saturating', ema_decay=0.9)),
    ('pacgan_mlp', (2,), dict(loss='wasserstein', gp_weight=10.0, d_steps=2, pack=2)),
    ('goodfellow_mnist', (28, 28, 1), dict(loss='non_saturating', update='simultaneous',
                                            d_loss_scale=0.5)),
    ('dcgan28', (28, 28, 1), dict(loss='hinge')),
]
# The default run keeps one MLP; the others are the slow tier.
_SLOW = {1, 2, 3}  # dcgan28 stays in test_pmap_and_shard_map_are_identical (8 devices)


@pytest.mark.parametrize('arch,shape,kw', [
    pytest.param(*c, marks=pytest.mark.slow) if i in _SLOW else c for i, c in enumerate(CASES)],
    ids=[c[0] + '-' + c[2]['loss'] for c in CASES])
def test_one_device_and_eight_devices_agree(arch, shape, kw):
  assert jax.device_count() == 8
  tr = trainer(arch, shape, **kw)
  batch = np.random.default_rng(0).normal(size=(kw.get('d_steps', 1), 16, *shape)).astype(np.float32)
  s1, h1 = run_steps(tr, shape, batch, devices=1)
  s8, h8 = run_steps(tr, shape, batch, devices=8)
  for a, b in zip(h1, h8):
    for k in a:
      np.testing.assert_allclose(a[k], b[k], rtol=2e-4, atol=2e-5, err_msg=k)
  for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize('arch,shape,kw', [pytest.param(*CASES[1], marks=pytest.mark.slow),
                                          CASES[3]], ids=['pacgan-wgan-gp', 'dcgan28'])
def test_pmap_and_shard_map_are_identical(arch, shape, kw):
  tr = trainer(arch, shape, opt=ADAM, **kw)
  batch = np.random.default_rng(1).normal(size=(kw.get('d_steps', 1), 16, *shape)).astype(np.float32)
  sp, hp = run_steps(tr, shape, batch, 8, 'pmap')
  ss, hs = run_steps(tr, shape, batch, 8, 'shard_map')
  assert hp == hs
  for a, b in zip(jax.tree.leaves(sp), jax.tree.leaves(ss)):
    np.testing.assert_array_equal(a, b)


def test_batchnorm_statistics_span_the_global_batch():
  # Examples that differ per device: per-device BN statistics would differ from global ones.
  tr = trainer('pacgan_mlp', (2,))
  batch = np.repeat(np.arange(8, dtype=np.float32), 2)[None, :, None].repeat(2, -1)
  s1, _ = run_steps(tr, (2,), batch, devices=1, steps=1)
  s8, _ = run_steps(tr, (2,), batch, devices=8, steps=1)
  for a, b in zip(jax.tree.leaves(s1.g_stats), jax.tree.leaves(s8.g_stats)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  unsynced = models.build(ml_collections.ConfigDict({'arch': 'pacgan_mlp'}), (2,), bn_axis=None)
  tr_u = train.GANTrainer(unsynced, train.StepConfig(), train.make_optimizer(SGD),
                          train.make_optimizer(SGD))
  su, _ = run_steps(tr_u, (2,), batch, devices=8, steps=1)
  assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(s1.g_stats),
                                                   jax.tree.leaves(su.g_stats)))


def test_steps_draw_fresh_noise():
  # That devices draw distinct noise is what test_one_device_and_eight_devices_agree
  # checks: 8 devices repeating one device's 2 noise vectors would not equal 1 device
  # drawing 16.
  tr = trainer('pacgan_mlp', (2,))
  batch = np.zeros((1, 16, 2), np.float32)
  _, hist = run_steps(tr, (2,), batch, devices=8, steps=2)
  assert hist[0]['d_fake_logit'] != hist[1]['d_fake_logit']


def test_global_batch_must_divide_over_devices():
  with pytest.raises(ConfigError, match=r'global batch \(12\) must be a positive multiple of '
                                        r'the device count \(8\)'):
    parallel.check_batch(12)
  with pytest.raises(ConfigError, match='multiple of model.pack'):
    parallel.check_batch(24, pack=2)
  parallel.check_batch(32, pack=4)


def test_unknown_mode_is_a_config_error():
  with pytest.raises(ConfigError, match='parallel.mode'):
    parallel.DataParallel(lambda s, b: (s, {}), 'pjit')
