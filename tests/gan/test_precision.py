"""Mixed precision (``precision='bfloat16'``) in the GAN step against the float32 step."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxstyle.gan import models, train
from jaxstyle.runtime import parallel
from tests.gan.test_parallel import SGD

SHAPE = (28, 28, 1)
ADAM = ml_collections.ConfigDict(dict(name='adam', lr=1e-3, b1=0.5, b2=0.999))


def one_device_step(trainer):
  return jax.pmap(trainer.step, axis_name=parallel.AXIS, in_axes=(None, 1),
                  out_axes=(None, None), devices=jax.devices()[:1])


def dcgan_trainer(dtype):
  # test_parallel's DCGAN case (the same float32 programs, which the suite's compilation
  # cache may already hold). SGD with momentum: updates proportional to the gradients
  # (Adam's first step is lr * sign(g), which would hide gradient errors) and an
  # optimiser state to check.
  m = models.build(ml_collections.ConfigDict({'arch': 'dcgan28', 'ngf': 8, 'ndf': 8}), SHAPE,
                   dtype=dtype)
  return train.GANTrainer(m, train.StepConfig(loss='hinge'), train.make_optimizer(SGD),
                          train.make_optimizer(SGD))


@pytest.fixture(scope='module')
def dcgan_steps():
  """(initial state, float32 step's (state, metrics), bfloat16 step's (state, metrics))."""
  f32, bf16 = dcgan_trainer(jnp.float32), dcgan_trainer(jnp.bfloat16)
  # Parameters are float32 in both (Flax param_dtype), so one initial state serves both.
  state = jax.device_get(f32.init(0, SHAPE))
  real = np.random.default_rng(0).normal(size=(1, 1, 16, *SHAPE)).astype(np.float32)
  copy = lambda: jax.tree.map(np.array, state)  # noqa: E731  (buffers are donated)
  return (state, jax.device_get(one_device_step(f32)(copy(), real)),
          jax.device_get(one_device_step(bf16)(copy(), real)))


def test_a_bfloat16_dcgan_step_stays_near_the_float32_step(dcgan_steps):
  state, (s32, m32), (s16, m16) = dcgan_steps
  # Losses: float32 means of logits that went through bfloat16 layers (8-bit mantissa,
  # ~0.4% per rounding): measured 1.4e-4 (D) and 5.8e-3 (G, whose loss also sees G's
  # bfloat16 samples) relative; allowed 2e-2.
  for k in ('d_loss', 'g_loss'):
    np.testing.assert_allclose(m16[k], m32[k], rtol=2e-2, err_msg=k)
  # Parameter updates (SGD: proportional to the gradients): G's gradient passes back
  # through D and G in bfloat16, and BatchNorm's backward pass subtracts means, cancelling
  # digits. Measured relative L2 errors: up to 18% for one layer (G's projection), 7% for
  # all of G's parameters at once, 3% for D's. Allowed: 30% per layer, 15% per network.
  for name in ('g_params', 'd_params'):
    before, ref, got = (jax.tree.leaves(getattr(s, name)) for s in (state, s32, s16))
    d32 = [np.asarray(b) - np.asarray(a) for a, b in zip(before, ref)]
    d16 = [np.asarray(b) - np.asarray(a) for a, b in zip(before, got)]
    for a, b in zip(d32, d16):
      assert np.linalg.norm(b - a) <= 0.3 * np.linalg.norm(a), name
    flat32, flat16 = (np.concatenate([x.ravel() for x in d]) for d in (d32, d16))
    assert np.linalg.norm(flat16 - flat32) <= 0.15 * np.linalg.norm(flat32), name


def test_state_stays_float32_after_a_bfloat16_step(dcgan_steps):
  _, _, (s16, m16) = dcgan_steps
  for part in ('g_params', 'd_params', 'g_stats', 'd_stats', 'g_opt', 'd_opt'):
    leaves = jax.tree.leaves(getattr(s16, part))
    floats = [x for x in leaves if np.issubdtype(np.asarray(x).dtype, np.floating)]
    assert floats and all(np.asarray(x).dtype == np.float32 for x in floats), part
  assert all(np.asarray(v).dtype == np.float32 for v in m16.values())


def test_a_short_bfloat16_run_learns_a_gaussian():
  # A small 2-D GAN in bfloat16: its samples' mean moves from ~0 (initial G) to the data's.
  target = np.array([1.5, -1.0], np.float32)
  m = models.GANModels(models.MixtureGenerator(hidden=32, depth=2, bn_axis=parallel.AXIS,
                                               dtype=jnp.bfloat16),
                       models.MixtureDiscriminator(units=16, depth=2, dtype=jnp.bfloat16),
                       noise_dim=2, noise='normal', data_range=(-np.inf, np.inf))
  tr = train.GANTrainer(m, train.StepConfig(loss='non_saturating'), train.make_optimizer(ADAM),
                        train.make_optimizer(ADAM))
  state, step = tr.init(0, (2,)), one_device_step(tr)
  z = m.sample_noise(jax.random.key(1), (512,))
  start = np.linalg.norm(np.asarray(tr.sample_jit(state, z)).mean(0) - target)
  reals = (target + 0.05 * np.random.default_rng(0).normal(size=(80, 1, 1, 32, 2)))
  distances = []
  for i, real in enumerate(reals.astype(np.float32)):
    state, metrics = step(state, real)
    if i % 20 == 19:
      x = np.asarray(tr.sample_jit(state, z))
      assert x.dtype == np.float32 and np.isfinite(x).all()
      distances.append(np.linalg.norm(x.mean(0) - target))
  # GAN training oscillates: ask only that it got within half the starting distance.
  assert start > 1.7 and min(distances) < 0.5 * start, (start, distances)
  assert np.isfinite(float(metrics['d_loss'])) and np.isfinite(float(metrics['g_loss']))
