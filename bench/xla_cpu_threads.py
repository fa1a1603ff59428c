"""The minimal programs behind repro.deterministic: which XLA:CPU operations change their
bits with the number of cores, and that a fixed thread pool (PJRT_NPROC) removes it.

    python bench/xla_cpu_threads.py [--json bench/results/xla_cpu_threads_2core_cpu.json]

Each operation (random float32 inputs, fixed seed) runs in fresh processes restricted to 1
and to 2 cores (``sched_setaffinity``), under XLA's default pool (one thread per visible
core), under ``--xla_cpu_multi_thread_eigen=false``, and under PJRT_NPROC=1/2/4. The table
says per operation and setting whether the result's bytes are the same on 1 and 2 cores,
and which kernel XLA used (from the optimised HLO: a YNNPACK fusion, or XLA's own dot,
which calls Eigen). Needs a machine with at least 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

# name -> (shapes, expression); x, y are the inputs.
OPS = {
    'dot x@y (100x400 @ 400x400)': ([(100, 400), (400, 400)], 'x @ y'),
    'dot x.T@y, weight gradient (400x100.T @ 100x400)': ([(100, 400), (100, 400)], 'x.T @ y'),
    'dot x.T@y (4000x100.T @ 4000x200)': ([(4000, 100), (4000, 200)], 'x.T @ y'),
    'sum of 4M': ([(4_000_000,)], 'x.sum()'),
    'mean over batch (2000x2000, axis 0)': ([(2000, 2000)], 'x.mean(0)'),
    'conv 3x3 (8x64x64x32 -> 64)': ([(8, 64, 64, 32), (3, 3, 32, 64)], 'conv(x, y)'),
}
SETTINGS = [('XLA default', {}), ('--xla_cpu_multi_thread_eigen=false',
                                  {'XLA_FLAGS': '--xla_cpu_multi_thread_eigen=false'}),
            ('PJRT_NPROC=1', {'PJRT_NPROC': '1'}), ('PJRT_NPROC=2', {'PJRT_NPROC': '2'}),
            ('PJRT_NPROC=4', {'PJRT_NPROC': '4'})]


def child() -> dict:
  import jax
  import jax.numpy as jnp
  import numpy as np

  def conv(a, b):
    return jax.lax.conv_general_dilated(a, b, (1, 1), 'SAME',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  out = {}
  for name, (shapes, expr) in OPS.items():
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    fn = jax.jit(eval(f'lambda x, y=None: {expr}', {'conv': conv, 'jnp': jnp}))  # noqa: S307
    hlo = fn.lower(*args).compile().as_text()
    kernel = 'YNNPACK' if '__ynn_fusion' in hlo else 'XLA/Eigen'
    value = np.asarray(fn(*args))
    out[name] = {'hash': hashlib.sha256(value.tobytes()).hexdigest()[:12], 'kernel': kernel}
  return out


def run(env_changes: dict, cores: list[int]) -> dict:
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  for key in ('PJRT_NPROC', 'XLA_FLAGS'):
    env.pop(key, None)
  env.update(env_changes)
  proc = subprocess.run([sys.executable, __file__, '--child'], env=env, capture_output=True,
                        text=True, timeout=600, preexec_fn=lambda: os.sched_setaffinity(0, set(cores)))
  if proc.returncode:
    raise SystemExit(proc.stderr[-2000:])
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  p.add_argument('--json')
  args = p.parse_args()
  if args.child:
    print(json.dumps(child()))
    return
  cores = sorted(os.sched_getaffinity(0))
  if len(cores) < 2:
    raise SystemExit('error: needs a machine with at least 2 cores')
  rows = []
  for label, env in SETTINGS:
    one, two = run(env, cores[:1]), run(env, cores[:2])
    for name in OPS:
      rows.append({'op': name, 'setting': label, 'kernel': one[name]['kernel'],
                   'hash_1_core': one[name]['hash'], 'hash_2_cores': two[name]['hash'],
                   'same': one[name]['hash'] == two[name]['hash']})
  lines = ['| operation | kernel | ' + ' | '.join(l for l, _ in SETTINGS) + ' |',
           '|---|---|' + '---|' * len(SETTINGS)]
  for name in OPS:
    mine = [r for r in rows if r['op'] == name]
    lines.append(f'| {name} | {mine[0]["kernel"]} | ' +
                 ' | '.join('same' if r['same'] else '**differs**' for r in mine) + ' |')
  table = '\n'.join(lines)
  print(table)
  result = {'command': ' '.join(['python', 'bench/xla_cpu_threads.py'] + sys.argv[1:]),
            'machine': f'{platform.machine()}, {os.cpu_count()} cores', 'rows': rows,
            'table': table}
  if args.json:
    Path(args.json).write_text(json.dumps(result, indent=2) + '\n')
    print(f'wrote {args.json}')


if __name__ == '__main__':
  main()
