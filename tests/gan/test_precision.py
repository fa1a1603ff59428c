"""Mixed precision (``precision='bfloat16'``) in the GAN step against the float32 step.

(That a short bfloat16 run trains is tested on the feed-forward step, whose loss falls
every step: tests/feedforward/test_train.py; a GAN's losses do not.)
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxstyle.gan import models, train
from jaxstyle.runtime import parallel
from tests.gan.test_parallel import SGD

SHAPE = (28, 28, 1)


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


def initial_state(trainer):
  """A state of ``GANTrainer.init``'s structure with DCGAN's initial distributions, without
  compiling DCGAN's init (~10 s on 2 cores): shapes from ``eval_shape``, values from numpy."""
  shapes = jax.eval_shape(functools.partial(trainer.init, 0, SHAPE))
  rng = np.random.default_rng(0)

  def value(path, leaf):
    name = jax.tree_util.keystr(path)
    if name.endswith("['kernel']"):
      return rng.normal(0, 0.02, leaf.shape).astype(leaf.dtype)
    if name.endswith("['scale']"):
      return (1 + rng.normal(0, 0.02, leaf.shape)).astype(leaf.dtype)
    return (np.ones if name.endswith("['var']") else np.zeros)(leaf.shape, leaf.dtype)

  g, d, g_stats, d_stats = (jax.tree_util.tree_map_with_path(value, getattr(shapes, k))
                            for k in ('g_params', 'd_params', 'g_stats', 'd_stats'))
  return shapes.replace(step=np.zeros((), np.int32), rng=np.zeros(shapes.rng.shape, np.uint32),
                        g_params=g, d_params=d, g_stats=g_stats, d_stats=d_stats,
                        g_opt=trainer.g_tx.init(g), d_opt=trainer.d_tx.init(d))


@pytest.fixture(scope='module')
def dcgan_steps():
  """(initial state, float32 step's (state, metrics), bfloat16 step's (state, metrics))."""
  f32, bf16 = dcgan_trainer(jnp.float32), dcgan_trainer(jnp.bfloat16)
  # Parameters are float32 in both (Flax param_dtype), so one initial state serves both.
  state = jax.device_get(initial_state(f32))
  real = np.random.default_rng(0).normal(size=(1, 1, 16, *SHAPE)).astype(np.float32)
  copy = lambda: jax.tree.map(np.array, state)  # noqa: E731  (buffers are donated)
  return (state, jax.device_get(one_device_step(f32)(copy(), real)),
          jax.device_get(one_device_step(bf16)(copy(), real)))


def test_a_bfloat16_dcgan_step_stays_near_the_float32_step(dcgan_steps):
  state, (s32, m32), (s16, m16) = dcgan_steps
  # Losses: float32 means of logits that went through bfloat16 layers (8-bit mantissa,
  # ~0.4% per rounding): measured 2.3e-4 (D) and 2.6e-4 (G) relative here, up to 6e-3 from
  # other initial states; allowed 2e-2.
  for k in ('d_loss', 'g_loss'):
    np.testing.assert_allclose(m16[k], m32[k], rtol=2e-2, err_msg=k)
  # Parameter updates (SGD: proportional to the gradients): G's gradient passes back
  # through D and G in bfloat16, and BatchNorm's backward pass subtracts means, cancelling
  # digits. Measured relative L2 errors: up to 16% for one layer (G's projection; 18% from
  # another initial state), 5% for all of G's parameters at once, 2.5% for D's. Allowed:
  # 30% per layer, 15% per network.
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
