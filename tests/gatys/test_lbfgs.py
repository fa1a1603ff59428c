"""The L-BFGS solver against scipy's L-BFGS-B on smooth problems with a known minimum.

The comparisons with scipy run the solver in float64 (``jax.enable_x64``), so that both
can reach the minimiser to float64's line-search precision (~sqrt(eps)); the float32
tests check what images get: the float32 precision floor.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from jaxstyle.gatys.lbfgs import LBFGS
from tests.host_calls import HostCalls


def _vag(f):
  vg = jax.jit(jax.value_and_grad(f))
  def fun(x):
    v, g = vg(x)
    return v, {'value': v}, g
  return fun


def _rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _quadratic(n, condition, seed=0):
  """(A, b, A^-1 b) for f(x) = x.A.x / 2 - b.x, A's eigenvalues log-spaced in [1, condition]."""
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  a = q @ np.diag(np.logspace(0, np.log10(condition), n)) @ q.T
  a = (a + a.T) / 2
  b = rng.normal(size=n)
  return a, b, np.linalg.solve(a, b)


def _jax_quadratic(a, b):
  a, b = jnp.asarray(a), jnp.asarray(b)  # float32, or float64 under enable_x64
  return lambda x: 0.5 * x @ (a @ x) - b @ x


def _iterates(solver, iterations):
  """x0 and the iterates of up to ``iterations`` steps (fewer if it stalls), float64."""
  xs = [np.asarray(solver.current.x, np.float64)]
  for _ in range(iterations):
    it = solver.step()
    if solver.stalled:
      break
    xs.append(np.asarray(it.x, np.float64))
  return xs


def _scipy(fun_and_grad, x0, memory):
  """scipy's L-BFGS-B (unbounded) run to float64 precision; (result, x0 and iterates)."""
  xs = [np.asarray(x0, np.float64)]
  res = optimize.minimize(fun_and_grad, xs[0], jac=True, method='L-BFGS-B', callback=xs.append,
                          options=dict(maxcor=memory, gtol=1e-12, ftol=1e-16, maxiter=2000))
  return res, xs


def _first(xs, close):
  """Index of the first iterate for which close(x) holds (0 = the starting point)."""
  return next(i for i, x in enumerate(xs) if close(x))


def _rel_err(x, x_star):
  return np.linalg.norm(x - x_star) / np.linalg.norm(x_star)


def test_ill_conditioned_quadratic_matches_scipy_and_the_exact_minimum():
  a, b, x_star = _quadratic(30, 1e3)
  f_star = -0.5 * b @ x_star
  ref, ref_xs = _scipy(lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b), np.zeros(30), 20)
  with jax.enable_x64(True):
    solver = LBFGS(_vag(_jax_quadratic(a, b)), jnp.zeros(30, jnp.float64), memory_size=20)
    ours = _iterates(solver, 200)
    assert solver.current.x.dtype == jnp.float64
  # Both reach A^-1 b and f* = -b.A^-1 b / 2.
  assert _rel_err(ref.x, x_star) < 1e-6 and _rel_err(ours[-1], x_star) < 1e-6
  assert abs(ref.fun - f_star) <= 1e-12 * abs(f_star)
  assert abs(solver.current.value - f_star) <= 1e-12 * abs(f_star)
  # The curvature pairs are used as scipy uses them: about as many iterations (same
  # memory) to get within 1e-3 of the minimiser. Steepest descent needs thousands here.
  close = lambda x: _rel_err(x, x_star) < 1e-3  # noqa: E731
  assert _first(ours, close) <= 1.25 * _first(ref_xs, close) + 3


def test_ill_conditioned_quadratic_in_float32_reaches_the_float32_floor():
  """In float32 the line search cannot see decreases below ~eps32 * |f|: the value
  still gets within 1e-4 of f*, the iterate within 1e-2 (cond 1e3)."""
  a, b, x_star = _quadratic(30, 1e3)
  f_star = -0.5 * b @ x_star
  solver = LBFGS(_vag(_jax_quadratic(a, b)), jnp.zeros(30), memory_size=20)
  ours = _iterates(solver, 150)
  assert solver.current.x.dtype == jnp.float32
  assert abs(solver.current.value - f_star) <= 1e-4 * abs(f_star)
  assert _rel_err(ours[-1], x_star) < 1e-2


@pytest.mark.parametrize('n,x0', [(6, 'zeros'), (8, 'linspace')])
def test_rosenbrock_matches_scipy_and_reaches_the_minimum(n, x0):
  x0 = np.zeros(n) if x0 == 'zeros' else np.linspace(-1, 1, n)
  ref, ref_xs = _scipy(lambda x: (optimize.rosen(x), optimize.rosen_der(x)), x0, n)
  with jax.enable_x64(True):
    solver = LBFGS(_vag(_rosenbrock), jnp.asarray(x0), memory_size=n)
    ours = _iterates(solver, 150)
    assert solver.current.x.dtype == jnp.float64
    assert float(solver.current.aux['value']) == solver.current.value
  # The global minimiser is (1, ..., 1) with f = 0; both find it from the same start.
  np.testing.assert_allclose(ref.x, np.ones(n), atol=1e-7)
  np.testing.assert_allclose(ours[-1], np.ones(n), atol=1e-7)
  assert ref.fun < 1e-14 and solver.current.value < 1e-14
  close = lambda x: np.abs(x - 1).max() < 1e-6  # noqa: E731
  assert _first(ours, close) <= 1.25 * _first(ref_xs, close) + 3


def test_rosenbrock_in_float32_reaches_the_minimum():
  solver = LBFGS(_vag(_rosenbrock), jnp.zeros(10), memory_size=10)
  ours = _iterates(solver, 200)
  np.testing.assert_allclose(ours[-1], np.ones(10), atol=1e-4)
  assert solver.current.value < 1e-8


# (scale of A, t* = the exact line minimum along -g/|g| for that scale, first step taken)
FIRST_STEPS = [(0.1, (10, 100), lambda t_star: 10.0),       # extrapolated once, to t = 10
               (0.5, (1 / 1.9, 10), lambda t_star: 1.0),    # the unit step
               (4.0, (0.1, 0.5), lambda t_star: t_star)]    # the exact line minimum


@pytest.mark.parametrize('scale,t_star_range,expected_t', FIRST_STEPS, ids=['t10', 't1', 'exact'])
def test_first_step_is_the_steepest_descent_line_search_result(scale, t_star_range, expected_t):
  """With no curvature pairs yet, the direction is -g/|g| (optax's first scaling
  min(1, 1/|g|), |g| > 1 here) and the line search tries t = 1 first. On a quadratic,
  phi(t) = f(x0 - t g/|g|) has phi'(t) = phi'(0) (1 - t/t*), t* = |g|^3 / g.A.g, so the
  strong Wolfe conditions (c1 = 1e-4, c2 = 0.9) hold at t iff t* is in [t/1.9, 10 t]
  (and t* > t/2). Hence: t = 1 is taken if t* is in [1/1.9, 10]; if t* > 10 the search
  extrapolates (x10, as torch) and takes t = 10 when t* <= 100; if t* < 1/2, t = 1 fails
  sufficient decrease and the cubic through t = 0 and 1 -- exact for a quadratic --
  gives t* itself (kept out of the outer tenths of the bracket: t* > 0.1 here)."""
  a, b, _ = _quadratic(8, 10.0, seed=3)
  a = scale * a
  x0 = np.zeros(8)
  g = a @ x0 - b
  u = g / np.linalg.norm(g)
  t_star = np.linalg.norm(g) / (u @ a @ u)
  assert np.linalg.norm(g) > 1 and t_star_range[0] < t_star < t_star_range[1]
  solver = LBFGS(_vag(_jax_quadratic(a, b)), jnp.asarray(x0, jnp.float32), memory_size=8)
  step = np.asarray(solver.step().x, np.float64) - x0
  np.testing.assert_allclose(step, -expected_t(t_star) * u, rtol=1e-5, atol=1e-6)
  assert solver.num_evals == (2 if scale == 0.5 else 3)  # x0, then one or two trials


def test_every_accepted_step_decreases_the_objective():
  solver = LBFGS(_vag(_rosenbrock), jnp.full(6, -1.5), memory_size=5)
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
  # ... and the minimum is found: 2 (x - 1.9) = -1 / (2 - x), x = 2 - (0.2 + sqrt(8.04)) / 4.
  np.testing.assert_allclose(it.x, np.full(3, 2 - (0.2 + np.sqrt(8.04)) / 4), atol=1e-4)


def test_second_step_is_the_bfgs_step_of_the_first_pair():
  """After one Wolfe step the direction is -H g1 with H the BFGS update of gamma I by the
  pair s = x1 - x0, y = g1 - g0, gamma = s.y / y.y (Nocedal & Wright eq. 7.20 with one
  pair), and the unit step is taken when the line minimum t* along it is in [1/1.9, 10]
  (see the first-step test): written out here as matrices, not as the two-loop recursion."""
  a, b, _ = _quadratic(8, 10.0, seed=3)
  a = 0.5 * a  # the 't1' case above: the first step is the unit step, and it is Wolfe
  grad = lambda x: a @ x - b  # noqa: E731
  x0 = np.zeros(8)
  x1 = x0 - grad(x0) / np.linalg.norm(grad(x0))
  s, y = x1 - x0, grad(x1) - grad(x0)
  rho, gamma = 1 / (y @ s), (s @ y) / (y @ y)
  v = np.eye(8) - rho * np.outer(y, s)
  h = gamma * v.T @ v + rho * np.outer(s, s)
  d = -h @ grad(x1)
  t_star = -(grad(x1) @ d) / (d @ a @ d)
  assert 1 / 1.9 < t_star < 10
  with jax.enable_x64(True):
    solver = LBFGS(_vag(_jax_quadratic(a, b)), jnp.asarray(x0), memory_size=8)
    np.testing.assert_allclose(solver.step().x, x1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(solver.step().x, x1 + d, rtol=1e-10, atol=1e-12)
    assert solver.num_evals == 3


def test_one_device_call_and_one_transfer_per_evaluation():
  """Each objective evaluation is one program run on the device and one blocking read of
  its scalars, counted from the runtime's trace (tests/host_calls.py), whatever the line
  search does. A nearly linear pull into a log barrier at x = 4 makes it extrapolate
  (x10) past the barrier into NaN, zoom back, forget the curvature pairs after a step
  without the curvature condition, and finally stall."""
  f = lambda x: jnp.sum(-x - 0.01 * jnp.log(4.0 - x))  # noqa: E731
  x0 = jnp.zeros(1)
  with HostCalls() as calls:
    solver = LBFGS(_vag(f), x0, memory_size=5)
  # A setup program (the empty curvature memory and direction), then x0's evaluation.
  assert (calls.executions, calls.syncs, calls.arrays_read, solver.num_evals) == (2, 1, 1, 1)
  with HostCalls() as calls:
    for _ in range(20):
      solver.step()
  evals = solver.num_evals - 1
  assert solver.stalled and evals > 40
  assert calls.executions == evals
  assert calls.syncs == evals and calls.arrays_read == evals
  # ... and the loss terms (aux) stayed on the device.
  assert isinstance(solver.current.aux['value'], jax.Array)
  np.testing.assert_allclose(solver.current.x, [3.99], rtol=1e-5)


def test_float32_stops_at_the_noise_floor():
  """In float32 sufficient decrease accepts an unchanged value once c1 t slope0 is below
  its rounding: such steps count as no progress, so the solver stalls (two in a row)
  instead of spending max_linesearch_steps evaluations per iteration from then on (it
  used to: 16 per iteration here, for as long as it was run)."""
  a, b, x_star = _quadratic(30, 1e3)
  f_star = -0.5 * b @ x_star
  solver = LBFGS(_vag(_jax_quadratic(a, b)), jnp.zeros(30), memory_size=20)
  ours = _iterates(solver, 1000)
  assert solver.stalled and len(ours) < 100 and solver.num_evals < 250
  assert abs(solver.current.value - f_star) <= 1e-4 * abs(f_star)
  # A stalled solver keeps its last iterate.
  np.testing.assert_array_equal(np.asarray(solver.current.x, np.float64), ours[-1])
