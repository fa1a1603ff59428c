"""The GAN step's update rules against hand-computed references.

Every expectation here is recomputed outside ``GANTrainer.step``: the losses are written
out from their formulas (-log sigmoid), gradients come from ``jax.grad`` of those plain
losses on the same parameters and batch, and the optimiser / EMA recursions are redone
in numpy. The networks are tiny (a 2-3-2 tanh generator, a 2-4-1 tanh discriminator) and
the noise is one fixed vector, so the references need no knowledge of the step's key
derivation; one step runs on one device under pmap (``lax.pmean`` needs the named axis).
"""

import json
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from experiments.configs import goodfellow_mnist
from jaxstyle.gan import models, train
from jaxstyle.runtime import checkpoint, parallel, rundir, trainloop
from jaxstyle.runtime.checkpoint import Checkpointer

SHAPE = (2,)
N = 8                                      # per-step batch (one device)
Z_FIXED = np.array([0.6, -1.1], np.float32)
TOL = dict(rtol=1e-5, atol=1e-6)           # one (or a few) float32 SGD steps


class TinyG(nn.Module):
  @nn.compact
  def __call__(self, z, train: bool = True):
    del train
    h = jnp.tanh(nn.Dense(3, kernel_init=nn.initializers.normal(1.0), name='h')(z))
    return nn.Dense(2, kernel_init=nn.initializers.normal(1.0), name='out')(h)


class TinyD(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = True, example_keys=None):
    del train, example_keys
    h = jnp.tanh(nn.Dense(4, kernel_init=nn.initializers.normal(1.0), name='h')(x))
    return nn.Dense(1, kernel_init=nn.initializers.normal(1.0), name='out')(h)[:, 0]


class FixedNoiseModels(models.GANModels):
  """Every example's noise is Z_FIXED, so a reference can rebuild G(z) without the keys."""

  def sample_noise(self, key, shape=()):
    del key
    return jnp.broadcast_to(jnp.asarray(Z_FIXED), (*shape, self.noise_dim))


MODELS = FixedNoiseModels(TinyG(), TinyD(), noise_dim=2, noise='normal',
                          data_range=(-np.inf, np.inf))


def make_trainer(g_tx, d_tx, **step_kw):
  return train.GANTrainer(MODELS, train.StepConfig(**step_kw), g_tx, d_tx)


def one_device(tr):
  fn = jax.pmap(tr.step, axis_name=parallel.AXIS, in_axes=(None, 1), out_axes=(None, None),
                devices=jax.devices()[:1])
  return lambda state, real: fn(state, jnp.asarray(real)[:, None])


def real_batch(d_steps=1, seed=0):
  return (2.0 * np.random.default_rng(seed).normal(size=(d_steps, N, *SHAPE))).astype(np.float32)


# --------------------------------------------------------------------------- references

def fakes(g_params):
  return TinyG().apply({'params': g_params}, jnp.tile(jnp.asarray(Z_FIXED), (N, 1)))


def d_loss_ref(d_params, real, fake):
  """Goodfellow et al. eq. 1 for D, as a loss: -log D(x) - log(1 - D(G(z)))."""
  d = lambda x: jax.nn.sigmoid(TinyD().apply({'params': d_params}, x))  # noqa: E731
  return -jnp.mean(jnp.log(d(real))) - jnp.mean(jnp.log(1.0 - d(fake)))


def g_loss_ref(g_params, d_params):
  """The non-saturating generator loss: -log D(G(z))."""
  return -jnp.mean(jnp.log(jax.nn.sigmoid(TinyD().apply({'params': d_params}, fakes(g_params)))))


def grad_d(d_params, real, g_params):
  return jax.grad(d_loss_ref)(d_params, jnp.asarray(real), fakes(g_params))


def grad_g(g_params, d_params):
  return jax.grad(g_loss_ref)(g_params, d_params)


def sgd(params, grads, lr, scale=1.0):
  return jax.tree.map(lambda p, g: np.asarray(p) - lr * scale * np.asarray(g), params, grads)


def assert_tree_close(actual, expected, **tol):
  assert jax.tree.structure(actual) == jax.tree.structure(expected)
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(e), **(tol or TOL))


def max_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# --------------------------------------------------------------------------- 1. EMA

@pytest.mark.parametrize('ema_start', [0, 2])
def test_ema_follows_the_decay_recursion_from_ema_start(ema_start):
  """EMA after each step vs a numpy recursion over the step's own raw generator params:
  e_0 = g_0; after the update with index t (0-based), e = g_{t+1} while t < ema_start,
  else decay * e + (1 - decay) * g_{t+1} (t == ema_start is the first averaged update)."""
  decay = 0.75
  tr = make_trainer(optax.sgd(0.5), optax.sgd(0.5), ema_decay=decay, ema_start=ema_start)
  step = one_device(tr)
  state = tr.init(0, SHAPE)
  expected = jax.tree.map(lambda p: np.asarray(p, np.float64), state.g_params)
  assert_tree_close(state.ema_params, expected)
  previous_g = state.g_params
  for t in range(4):
    state, _ = step(state, real_batch(seed=t))
    g = jax.tree.map(lambda p: np.asarray(p, np.float64), state.g_params)
    assert max_diff(g, previous_g) > 1e-3   # the raw params move: the rule is observable
    previous_g = state.g_params
    expected = g if t < ema_start else jax.tree.map(
        lambda e, p: decay * e + (1 - decay) * p, expected, g)
    assert_tree_close(state.ema_params, expected)
    if t >= ema_start:
      assert max_diff(state.ema_params, state.g_params) > 1e-3


def test_samples_use_the_ema_weights():
  """sample / sample_jit vs TinyG applied by hand to ema_params (and to g_params for
  use_ema=False)."""
  tr = make_trainer(optax.sgd(0.5), optax.sgd(0.5), ema_decay=0.75)
  step = one_device(tr)
  state = tr.init(0, SHAPE)
  for t in range(2):
    state, _ = step(state, real_batch(seed=t))
  z = jnp.asarray(np.random.default_rng(5).normal(size=(6, 2)).astype(np.float32))
  with_ema = TinyG().apply({'params': state.ema_params}, z)
  raw = TinyG().apply({'params': state.g_params}, z)
  assert float(jnp.max(jnp.abs(with_ema - raw))) > 1e-3
  np.testing.assert_allclose(tr.sample(state, z), with_ema, **TOL)
  np.testing.assert_allclose(tr.sample_jit(state, z), with_ema, **TOL)
  np.testing.assert_allclose(tr.sample_jit(state, z, use_ema=False), raw, **TOL)


def _loop_config(num_steps):
  return ml_collections.ConfigDict(dict(
      seed=0, train=dict(num_steps=num_steps), data=dict(order_seed=0),
      checkpoint=dict(every=2, keep=3),
      log=dict(every=2, sample_every=2, tensorboard=False)))


def _train(tr, step_fn, workdir, num_steps):
  batches = [real_batch(seed=s) for s in range(4)]
  job = trainloop.Job(state=tr.init(0, SHAPE), step_fn=step_fn, batch=lambda s: batches[s],
                      examples_per_step=N)
  state, info, writer, ckpt = trainloop.train(_loop_config(num_steps), workdir, job, {}, 0.0,
                                              show_progress=False)
  ckpt.close()
  rundir.finish(workdir, info, 'completed', 0.0, writer)
  return state, info


def test_ema_is_checkpointed_and_restored_on_resume(tmp_path):
  """A run resumed from its step-2 checkpoint vs the same run uninterrupted (trainloop +
  Orbax): the EMA in the checkpoint is the live one and the resumed EMA continues it."""
  tr = make_trainer(optax.sgd(0.5), optax.sgd(0.5), ema_decay=0.75)
  step_fn = parallel.DataParallel(tr.step, 'pmap')
  straight, _ = _train(tr, step_fn, tmp_path / 'straight', 4)
  at_2, _ = _train(tr, step_fn, tmp_path / 'resumed', 2)
  resumed, info = _train(tr, step_fn, tmp_path / 'resumed', 4)
  assert info['resumed_from_step'] == 2 and int(resumed.step) == 4

  ckpt = Checkpointer(tmp_path / 'resumed' / 'checkpoints', every=2)
  fingerprint = checkpoint.fingerprint(json.loads(_loop_config(4).to_json_best_effort()))
  saved, _ = ckpt.restore(tr.init(0, SHAPE), fingerprint, step=2)
  ckpt.close()
  assert_tree_close(saved.ema_params, at_2.ema_params, rtol=0, atol=0)
  # The EMA carries history (it is neither the raw params nor the template's init copy),
  # so a restore that dropped or reset it would change the final EMA.
  assert max_diff(at_2.ema_params, at_2.g_params) > 1e-3
  assert max_diff(at_2.ema_params, tr.init(0, SHAPE).ema_params) > 1e-3
  assert_tree_close(resumed.ema_params, straight.ema_params, rtol=0, atol=0)
  assert_tree_close(resumed.g_params, straight.g_params, rtol=0, atol=0)


# --------------------------------------------------------------------------- 2. Goodfellow SGD

def _probe(tx, t):
  """(lr_t, momentum_t) of a pylearn2_momentum transform at update count t: with a zero
  velocity inc = -lr_t g; with a zero gradient inc = m_t inc_prev."""
  state = {'inc': {'w': jnp.array([0.0, 1.0])}, 'count': jnp.asarray(t, jnp.int32)}
  inc, new_state = tx.update({'w': jnp.array([1.0, 0.0])}, state)
  assert int(new_state['count']) == t + 1
  return -float(inc['w'][0]), float(inc['w'][1])


def test_goodfellow_sgd_schedule_matches_pylearn2_formulas():
  """lr_t = max(0.1 / 1.000004**t, 1e-6) in float64 (pylearn2 ExponentialDecay) and the
  momentum ramp 0.5 -> 0.7 linear over 250 epochs x 500 updates, at t = 0, 1, ... and
  around the step where the 1e-6 floor starts."""
  c = goodfellow_mnist.get_config()
  for opt in (c.g_optimizer, c.d_optimizer):
    assert (opt.name, opt.lr, opt.lr_decay_factor, opt.min_lr) == \
        ('goodfellow_sgd', 0.1, 1.000004, 1e-6)
    assert (opt.momentum_start, opt.momentum_end, opt.momentum_saturate_steps) == \
        (0.5, 0.7, 250 * 50_000 // 100)
  tx = train.make_optimizer(c.d_optimizer)
  t_floor = math.ceil(math.log(0.1 / 1e-6) / math.log(1.000004))    # 2_878_238
  lr = lambda t: max(0.1 / 1.000004 ** t, 1e-6)  # noqa: E731
  mom = lambda t: 0.5 + 0.2 * min(t / 125_000, 1.0)  # noqa: E731
  assert lr(t_floor - 1) > 1e-6 and lr(t_floor - 10_000) > 1.04e-6
  for t in (0, 1, 2, 1000, 30_000, 62_500, 125_000, 1_000_000, 2_800_000,
            t_floor - 10_000, t_floor, 10 ** 8):
    got_lr, got_m = _probe(tx, t)
    np.testing.assert_allclose(got_lr, lr(t), rtol=1e-5, err_msg=f'lr at update {t}')
    np.testing.assert_allclose(got_m, mom(t), rtol=1e-6, err_msg=f'momentum at update {t}')
  assert _probe(tx, 0) == pytest.approx((0.1, 0.5))
  assert _probe(tx, 62_500)[1] == pytest.approx(0.6)


def test_goodfellow_sgd_steps_match_a_hand_rolled_momentum_trajectory():
  """Three simultaneous steps vs numpy pylearn2 momentum (v = m_t v - lr_t g; p += v) on
  jax.grad of the plain losses, with a short schedule that decays (lr 0.1, 0.05), hits
  the floor (0.03) and ramps the momentum 0.5, 0.6, 0.7 within those steps."""
  opt = ml_collections.ConfigDict(dict(name='goodfellow_sgd', lr=0.1, lr_decay_factor=2.0,
                                       min_lr=0.03, momentum_start=0.5, momentum_end=0.7,
                                       momentum_saturate_steps=2))
  lrs, moms = (0.1, 0.05, 0.03), (0.5, 0.6, 0.7)
  velocity = lambda v, grads, m, lr: jax.tree.map(  # noqa: E731
      lambda vi, gi: m * vi - lr * np.asarray(gi), v, grads)
  tr = make_trainer(train.make_optimizer(opt), train.make_optimizer(opt),
                    update='simultaneous')
  step = one_device(tr)
  state = tr.init(0, SHAPE)
  g = jax.tree.map(np.asarray, state.g_params)
  d = jax.tree.map(np.asarray, state.d_params)
  vg = jax.tree.map(np.zeros_like, g)
  vd = jax.tree.map(np.zeros_like, d)
  for t in range(3):
    real = real_batch(seed=t)
    gd, gg = grad_d(d, real[0], g), grad_g(g, d)    # both at the current parameters
    vd, vg = velocity(vd, gd, moms[t], lrs[t]), velocity(vg, gg, moms[t], lrs[t])
    d = jax.tree.map(np.add, d, vd)
    g = jax.tree.map(np.add, g, vg)
    state, _ = step(state, real)
    assert_tree_close(state.d_params, d)
    assert_tree_close(state.g_params, g)
    assert_tree_close(state.d_opt['inc'], vd)
    assert int(state.d_opt['count']) == t + 1


# --------------------------------------------------------------------------- 3. d_loss_scale

@pytest.mark.parametrize('scale,update', [(1.0, 'alternating'), (0.5, 'simultaneous'),
                                          (4.0, 'alternating')])
def test_d_loss_scale_scales_the_discriminator_gradient(scale, update):
  """D after one plain-SGD step vs d0 - lr * scale * jax.grad(D loss)(d0); G vs
  g0 - lr * jax.grad(G loss) at d0 (simultaneous) or at that updated D (alternating),
  which the scale must not multiply; the d_loss metric vs scale * the D loss."""
  lr = 0.3
  tr = make_trainer(optax.sgd(lr), optax.sgd(lr), update=update, d_loss_scale=scale)
  state0 = tr.init(0, SHAPE)
  real = real_batch()
  state1, metrics = one_device(tr)(state0, real)
  unscaled = grad_d(state0.d_params, real[0], state0.g_params)
  d1 = sgd(state0.d_params, unscaled, lr, scale)
  assert_tree_close(state1.d_params, d1)
  if scale != 1.0:
    assert max_diff(d1, sgd(state0.d_params, unscaled, lr)) > 1e-3
  d_seen_by_g = state0.d_params if update == 'simultaneous' else d1
  assert_tree_close(state1.g_params,
                    sgd(state0.g_params, grad_g(state0.g_params, d_seen_by_g), lr))
  expected_loss = scale * d_loss_ref(state0.d_params, real[0], fakes(state0.g_params))
  np.testing.assert_allclose(metrics['d_loss'], expected_loss, **TOL)


# --------------------------------------------------------------------------- 4. update rule

@pytest.mark.parametrize('update,d_steps', [('simultaneous', 1), ('alternating', 1),
                                            ('alternating', 2)])
def test_generator_sees_the_discriminator_before_or_after_its_update(update, d_steps):
  """G after one plain-SGD step vs the two hand-computed candidates g0 - lr_g grad_g(g0, D)
  with D = d0 (simultaneous) or D = d after the step's d_steps SGD updates (alternating)."""
  lr_d, lr_g = 0.5, 0.3
  tr = make_trainer(optax.sgd(lr_g), optax.sgd(lr_d), update=update, d_steps=d_steps)
  state0 = tr.init(0, SHAPE)
  real = real_batch(d_steps)
  state1, _ = one_device(tr)(state0, real)

  g0, d0 = state0.g_params, state0.d_params
  d_after = d0
  for i in range(d_steps if update == 'alternating' else 1):
    d_after = sgd(d_after, grad_d(d_after, real[i], g0), lr_d)   # fakes from g0 throughout
  g_if_before = sgd(g0, grad_g(g0, d0), lr_g)
  g_if_after = sgd(g0, grad_g(g0, d_after), lr_g)
  assert max_diff(g_if_before, g_if_after) > 1e-3     # the two rules are distinguishable

  assert_tree_close(state1.d_params, d_after)
  expected, other = (g_if_before, g_if_after) if update == 'simultaneous' else \
      (g_if_after, g_if_before)
  assert_tree_close(state1.g_params, expected)
  assert max_diff(state1.g_params, other) > 1e-3
