"""L-BFGS for image optimisation with a host-driven strong-Wolfe line search.

Each objective evaluation is one call of one jitted function, which forms the trial
point ``x + t d``, evaluates the objective's value, aux and gradient there and the slope
``g.d``; on the first trial of an iteration it also computes the direction ``d`` itself
(``optax.scale_by_lbfgs``, restarting from steepest descent if that is not a descent
direction). The host then fetches the two or three scalars the line search needs in one
transfer; image, gradient, direction, curvature pairs and aux (the per-layer loss terms)
stay on the device. On a GPU, where an evaluation can take as little as a millisecond,
each extra dispatch or blocking transfer would be a sizeable share of the run time
(bench/bench_lbfgs_overhead.py counts them).

The line search stays on the host rather than in the graph: on XLA:CPU an iteration of
``optax.lbfgs`` with its in-graph zoom line search costs several times the objective
evaluations it performs, because the VGG forward/backward then runs inside a while-loop
of conditionals (bench/bench_gatys.py measures it); here the objective runs at the top
level of its program and only the cheap direction computation sits in a conditional.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

# (value, aux, grad) of the objective at x; extra arguments are passed through.
ValueAuxGrad = Callable[..., tuple[jax.Array, Any, jax.Array]]

# The line search compares values and slopes to float32 accuracy; TPUs and GPUs compute
# float32 dot products in bf16 / TF32 by default.
_HIGHEST = jax.lax.Precision.HIGHEST

# A decrease of at most this many epsilons of the value is rounding noise, not progress.
_NOISE_ULPS = 4


@dataclasses.dataclass
class Iterate:
  """An accepted point of the optimisation: image ``x``, objective ``value`` (a Python
  float), ``aux`` (the per-layer loss terms, left on the device) and gradient ``grad``.
  """
  x: jax.Array
  value: float
  aux: Any
  grad: jax.Array


def _cubic_min(t1, f1, s1, t2, f2, s2):
  """Minimiser of the cubic through two points with slopes, kept inside the bracket."""
  lo, hi = min(t1, t2), max(t1, t2)
  d1 = s1 + s2 - 3 * (f1 - f2) / (t1 - t2)
  disc = d1 * d1 - s1 * s2
  if disc >= 0 and math.isfinite(disc):
    d2 = math.copysign(math.sqrt(disc), t2 - t1)
    denom = s2 - s1 + 2 * d2
    if denom != 0:
      t = t2 - (t2 - t1) * (s2 + d2 - d1) / denom
      width = hi - lo
      if math.isfinite(t):
        return min(max(t, lo + 0.1 * width), hi - 0.1 * width)
  return 0.5 * (lo + hi)


class Objective:
  """An objective prepared for ``LBFGS``: the one jitted program each evaluation runs.

  Build it once and pass it to every solver of the same objective (``Stylizer`` does), so
  that the program compiles once per input shape rather than once per solver.

  Args:
    value_aux_grad: traceable function ``(x, *args) -> (value, aux, grad)``; it is
      compiled into the evaluation, so pass large constants (network weights, targets)
      to the solver as ``args`` rather than closing over them.
    memory_size: number of (s, y) pairs kept (torch and Lua optim default to 100).
  """

  def __init__(self, value_aux_grad: ValueAuxGrad, memory_size: int = 100):
    self.value_aux_grad = value_aux_grad
    self.memory_size = memory_size
    self._precond = optax.scale_by_lbfgs(memory_size=memory_size)
    self.setup = jax.jit(lambda x: (self._precond.init(x), jnp.zeros_like(x)))
    # The direction and the curvature pairs are donated: the pairs are memory_size
    # images, and without donation every call would copy them.
    self.evaluate = jax.jit(self._evaluate, donate_argnums=(1, 4))

  def _evaluate(self, x, d, t, grad, state, new_direction, forget, args):
    """(x + t d, d, state, [value, slope, slope0], aux, grad there); with
    ``new_direction``, d (and slope0 = grad.d) are first computed from ``grad`` at x,
    after dropping the curvature pairs if ``forget``."""
    precond = self._precond

    def towards(state):
      hg, new_state = precond.update(grad, state, x)
      d = (-hg).astype(x.dtype)
      return d, new_state, jnp.vdot(grad, d, precision=_HIGHEST)

    def direction(d, state):
      del d
      fresh = precond.init(x)
      state = jax.lax.cond(forget, lambda s: fresh, lambda s: s, state)
      d, new_state, slope0 = towards(state)
      # Not a descent direction (or NaN): restart from steepest descent.
      return jax.lax.cond(slope0 < 0, lambda: (d, new_state, slope0), lambda: towards(fresh))

    def keep(d, state):
      return d, state, jnp.full((), jnp.nan, grad.dtype)

    # optax's two-loop recursion takes dot products too; the objective keeps its own.
    with jax.default_matmul_precision('highest'):
      d, state, slope0 = jax.lax.cond(new_direction, direction, keep, d, state)
    x_t = x + t * d
    value, aux, g = self.value_aux_grad(x_t, *args)
    slope = jnp.vdot(g, d, precision=_HIGHEST)
    dtype = jnp.result_type(value, slope)
    scalars = jnp.stack([value.astype(dtype), slope.astype(dtype), slope0.astype(dtype)])
    return x_t, d, state, scalars, aux, g


class LBFGS:
  """Minimises an objective from ``x0``; call ``step()`` once per iteration.

  Args:
    objective: an ``Objective``, or its ``value_aux_grad`` function (then prepared
      here, with ``memory_size``).
    x0: starting point.
    memory_size: number of (s, y) pairs kept, if ``objective`` is a function.
    max_linesearch_steps: objective evaluations allowed per iteration.
    c1, c2: sufficient-decrease and curvature constants of the strong Wolfe conditions.
    args: extra arguments of ``value_aux_grad``.
  """

  def __init__(self, objective: Objective | ValueAuxGrad, x0: jax.Array,
               memory_size: int = 100, max_linesearch_steps: int = 20, c1: float = 1e-4,
               c2: float = 0.9, args: tuple = ()):
    if not isinstance(objective, Objective):
      objective = Objective(objective, memory_size)
    self.objective = objective
    self._args = tuple(args)
    self.max_linesearch_steps = max_linesearch_steps
    self.c1, self.c2 = c1, c2
    self.num_evals = 0
    # True once two iterations in a row, the second along steepest descent, found no
    # decrease beyond rounding noise: converged as far as the value's precision shows.
    self.stalled = False
    self._restarted = False
    self._forget = False  # drop the curvature pairs before the next direction
    self._state, self._d = objective.setup(x0)
    # t = 0 along the zero direction: the objective at x0 itself.
    _, value, _, _, aux, grad = self._evaluate(x0, x0, 0.0, new_direction=False)
    self.current = Iterate(x0, value, aux, grad)

  def _evaluate(self, x, grad, t, new_direction):
    """One device call and one transfer: (x + t d, value, slope, slope0, aux, grad)."""
    x_t, self._d, self._state, scalars, aux, g = self.objective.evaluate(
        x, self._d, t, grad, self._state, new_direction, self._forget and new_direction,
        self._args)
    if new_direction:
      self._forget = False
    self._value_dtype = scalars.dtype
    self.num_evals += 1
    value, slope, slope0 = (float(v) for v in jax.device_get(scalars))
    return x_t, value, slope, slope0, aux, g

  def step(self) -> Iterate:
    """One iteration; returns the new iterate (the old one if no decrease was found or
    the solver has just stalled)."""
    cur = self.current
    new, wolfe = self._line_search(cur)
    # Sufficient decrease accepts a value equal to f0 once c1 t slope0 is below f0's
    # rounding, so at the float32 noise floor searches kept "succeeding" after spending
    # all their evaluations, and the solver never stalled: a decrease within a few ulps
    # of the value counts as none.
    noise = _NOISE_ULPS * float(jnp.finfo(self._value_dtype).eps) * abs(cur.value)
    if new is None or not cur.value - new.value > noise:
      # No decrease along this direction: the curvature history is misleading (or we
      # are at the noise floor). Restart from steepest descent next time; if that finds
      # none either, the solver has converged as far as the value's precision shows.
      self._forget = True
      self.stalled = self._restarted
      self._restarted = True
      if new is None or self.stalled:
        return cur
      self.current = new
      return new
    self._restarted = False
    if not wolfe:
      # Without the curvature condition s.y may be <= 0, which would corrupt the
      # inverse-Hessian estimate: forget the history rather than use it.
      self._forget = True
    self.current = new
    return new

  def _line_search(self, cur: Iterate):
    f0, c1, c2 = cur.value, self.c1, self.c2
    evals = 0
    slope0 = math.nan

    def phi(t):
      nonlocal evals, slope0
      first = evals == 0  # the first trial also computes the direction and slope0
      evals += 1
      x, value, slope, s0, aux, grad = self._evaluate(cur.x, cur.grad, t, first)
      if first:
        slope0 = s0
      if not math.isfinite(value):
        slope = math.nan
      return (t, value, slope, Iterate(x, value, aux, grad))

    def armijo_ok(p):
      return math.isfinite(p[1]) and p[1] <= f0 + c1 * p[0] * slope0

    def wolfe_ok(p):
      return armijo_ok(p) and abs(p[2]) <= -c2 * slope0

    best = None  # lowest point satisfying sufficient decrease

    def consider(p):
      nonlocal best
      if armijo_ok(p) and (best is None or p[1] < best[1]):
        best = p

    prev = None  # (0, f0, slope0) once slope0 is known
    t = 1.0
    lo = hi = None
    while evals < self.max_linesearch_steps:
      p = phi(t)
      if prev is None:
        prev = (0.0, f0, slope0, None)
      consider(p)
      if wolfe_ok(p):
        return p[3], True
      if not armijo_ok(p) or (prev[3] is not None and p[1] >= prev[1]):
        lo, hi = prev, p
        break
      if p[2] >= 0:
        lo, hi = p, prev
        break
      prev, t = p, 10.0 * t  # still descending steeply: extrapolate (as torch)
    while lo is not None and evals < self.max_linesearch_steps:
      if math.isfinite(hi[1]) and math.isfinite(hi[2]):
        t = _cubic_min(lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])
      else:
        t = 0.5 * (lo[0] + hi[0])
      if abs(hi[0] - lo[0]) * max(1.0, abs(slope0)) < 1e-12:
        break
      p = phi(t)
      consider(p)
      if not armijo_ok(p) or p[1] >= lo[1]:
        hi = p
      else:
        if wolfe_ok(p):
          return p[3], True
        if p[2] * (hi[0] - lo[0]) >= 0:
          hi = lo
        lo = p
    return (best[3], False) if best is not None else (None, False)
