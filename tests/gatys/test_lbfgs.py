"""The L-BFGS solver against scipy's on standard problems."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from jaxstyle.lbfgs import LBFGS


def _vag(f):
  vg = jax.jit(jax.value_and_grad(f))
  def fun(x):
    v, g = vg(x)
    return v, {'value': v}, g
  return fun


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_rosenbrock_reaches_the_minimum():
  solver = LBFGS(_vag(rosenbrock), jnp.zeros(10), memory_size=10)
  for _ in range(200):
    it = solver.step()
  np.testing.assert_allclose(it.x, np.ones(10), atol=1e-3)
  assert it.aux['value'] == it.value


def test_matches_scipy_on_an_ill_conditioned_quadratic():
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
  a = q @ np.diag(np.logspace(0, 3, 30)) @ q.T
  b = rng.normal(size=30)
  f = lambda x: 0.5 * x @ (jnp.asarray(a, jnp.float32) @ x) - jnp.asarray(b, jnp.float32) @ x  # noqa
  solver = LBFGS(_vag(f), jnp.zeros(30), memory_size=20)
  for _ in range(150):
    it = solver.step()
  ref = optimize.minimize(lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b), np.zeros(30),
                          jac=True, method='L-BFGS-B', options={'gtol': 1e-10})
  assert abs(it.value - ref.fun) <= 1e-4 * abs(ref.fun)


def test_every_accepted_step_decreases_the_objective():
  solver = LBFGS(_vag(rosenbrock), jnp.full(6, -1.5), memory_size=5)
  values = [solver.current.value]
  for _ in range(30):
    values.append(solver.step().value)
  assert all(b <= a for a, b in zip(values, values[1:]))
  assert values[-1] < 1e-2 * values[0]


def test_non_finite_trial_points_are_backtracked():
  # log barrier: +inf (nan) beyond x = 2, so a full step overshoots into it
  f = lambda x: jnp.sum((x - 1.9) ** 2) - jnp.sum(jnp.log(2.0 - x))  # noqa: E731
  solver = LBFGS(_vag(f), jnp.zeros(3), memory_size=5)
  for _ in range(20):
    it = solver.step()
  assert np.isfinite(it.value) and bool(jnp.all(it.x < 2.0))
