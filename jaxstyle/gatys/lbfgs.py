"""L-BFGS for image optimisation with a host-driven strong-Wolfe line search.

The search direction comes from ``optax.scale_by_lbfgs``; each objective evaluation
is one call of a jitted ``value_and_grad``. On XLA:CPU an iteration of ``optax.lbfgs``
with its in-graph zoom line search costs several times the objective evaluations it
performs, because the VGG forward/backward then runs inside a while-loop of
conditionals (bench/bench_gatys.py measures it); evaluating outside the loop avoids
that and also yields the per-layer loss terms of every accepted iterate for free.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

# (value, aux, grad) of the objective at x.
ValueAuxGrad = Callable[[jax.Array], tuple[jax.Array, Any, jax.Array]]


@dataclasses.dataclass
class Iterate:
  """An accepted point of the optimisation: image ``x``, objective ``value`` (a Python
  float), ``aux`` (the per-layer loss terms) and gradient ``grad``.
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


class LBFGS:
  """Minimises ``fun`` from ``x0``; call ``step()`` once per iteration.

  Args:
    value_aux_grad: jitted function x -> (value, aux, grad).
    x0: starting point.
    memory_size: number of (s, y) pairs kept (torch and Lua optim default to 100).
    max_linesearch_steps: objective evaluations allowed per iteration.
    c1, c2: sufficient-decrease and curvature constants of the strong Wolfe conditions.
  """

  def __init__(self, value_aux_grad: ValueAuxGrad, x0: jax.Array, memory_size: int = 100,
               max_linesearch_steps: int = 20, c1: float = 1e-4, c2: float = 0.9):
    self._fun = value_aux_grad
    self._precond = optax.scale_by_lbfgs(memory_size=memory_size)
    self._direction = jax.jit(self._precond.update)
    self._trial = jax.jit(lambda x, d, t: x + t * d)
    self._slope = jax.jit(lambda g, d: jnp.vdot(g, d))
    self.max_linesearch_steps = max_linesearch_steps
    self.c1, self.c2 = c1, c2
    self.num_evals = 0
    self.stalled = False  # True once even steepest descent found no decrease
    self._restarted = False
    value, aux, grad = self._evaluate(x0)
    self.current = Iterate(x0, value, aux, grad)
    self._state = self._precond.init(x0)

  def _evaluate(self, x):
    value, aux, grad = self._fun(x)
    self.num_evals += 1
    return float(value), aux, grad

  def step(self) -> Iterate:
    """One iteration; returns the new iterate (the old one if no decrease was found)."""
    cur = self.current
    hg, state = self._direction(cur.grad, self._state, cur.x)
    d = -hg
    slope0 = float(self._slope(cur.grad, d))
    if not slope0 < 0:  # not a descent direction: restart from steepest descent
      state = self._precond.init(cur.x)
      hg, state = self._direction(cur.grad, state, cur.x)
      d = -hg
      slope0 = float(self._slope(cur.grad, d))
    new, wolfe = self._line_search(cur, d, slope0)
    self._state = state
    if new is None:
      # No decrease along this direction: the curvature history is misleading (or we
      # are at the float32 noise floor). Restart from steepest descent next time.
      self._state = self._precond.init(cur.x)
      self.stalled = self._restarted
      self._restarted = True
      return cur
    self._restarted = False
    if not wolfe:
      # Without the curvature condition s.y may be <= 0, which would corrupt the
      # inverse-Hessian estimate: forget the history rather than use it.
      self._state = self._precond.init(new.x)
    self.current = new
    return new

  def _line_search(self, cur: Iterate, d, slope0):
    f0, c1, c2 = cur.value, self.c1, self.c2
    evals = 0

    def phi(t):
      nonlocal evals
      evals += 1
      x = self._trial(cur.x, d, t)
      value, aux, grad = self._evaluate(x)
      slope = float(self._slope(grad, d)) if math.isfinite(value) else math.nan
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

    prev = (0.0, f0, slope0, None)
    t = 1.0
    lo = hi = None
    while evals < self.max_linesearch_steps:
      p = phi(t)
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
