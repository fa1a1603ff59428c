"""What repro.deterministic costs, and what it buys: speed and bits under each thread setting.

    flock /tmp/jaxstyle_bench.lock python bench/bench_determinism.py \\
        [--json bench/results/determinism_2core_cpu.json]

For each XLA:CPU setting -- XLA's default pool (one thread per visible core, what
``repro.deterministic=False`` leaves) and a fixed pool of 1, 2 and 4 threads
(``repro.deterministic=True, repro.cpu_threads=N``, i.e. ``PJRT_NPROC=N``) -- and each
number of visible cores (1 and, where the machine has them, 2), a fresh process times two
workloads after compiling them:

* ``gan``: PacGAN's ring-8 GAN training step (G 4 x 400 BN-ReLU, D maxout 200 x 5, batch
  100; the step of ``jaxstyle run mixture_ring8``), 300 steps;
* ``gatys``: one Gatys objective evaluation (value and gradient through VGG-16, content
  relu4_2, style relu1_1..relu5_1) at 128 px, random weights, the backend's VGG kernels.

and hashes the results (GAN parameters after the timed steps, the Gatys gradient). The
table reports time per step/evaluation relative to XLA's default on all cores, and whether
the bits agree across core counts. One run, one machine: ratios are what to read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(workload: str) -> dict:
  """Runs in the measuring process: time and hash one workload."""
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')
  sys.path.insert(0, str(ROOT))
  import jax
  import numpy as np

  def digest(tree):
    leaves = [np.asarray(x).tobytes() for x in jax.tree_util.tree_leaves(tree)]
    return hashlib.sha256(b''.join(leaves)).hexdigest()[:16]

  if workload == 'gan':
    from jaxstyle.gan import task
    from jaxstyle.runtime import config as config_lib
    from jaxstyle.runtime import parallel
    config = config_lib.load('mixture_ring8')
    _, shape, _, trainer = task.build(config)
    step = parallel.DataParallel(trainer.step, 'pmap')   # as `jaxstyle run` steps it
    state = step.put_state(trainer.init(0, shape))
    batch = np.random.default_rng(0).normal(size=(1, int(config.train.batch_size)) + tuple(shape))
    batch = batch.astype(np.float32)
    for _ in range(5):
      state, _ = step(state, batch)
    jax.block_until_ready(state)
    n = 300
    t = time.perf_counter()
    for _ in range(n):
      state, _ = step(state, batch)
    jax.block_until_ready(state)
    return {'seconds': (time.perf_counter() - t) / n, 'hash': digest(state)}
  if workload == 'gatys':
    from jaxstyle.gatys import transfer
    from jaxstyle.perceptual import vgg, weights
    params = vgg.random_params(jax.random.key(0), 'vgg16')
    loaded = weights.LoadedWeights(weights.SOURCES['keras_vgg16'], None, params)
    settings = transfer.Settings(content_layers=('relu4_2',),
                                 style_layers=('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1',
                                               'relu5_1'), iterations=1)
    st = transfer.Stylizer(loaded, settings)
    rng = np.random.default_rng(0)
    content, style = rng.uniform(size=(2, 128, 128, 3))
    targets = st.targets(content, [style], [1.0])
    x0 = st.preprocess(content) + 5.0 * jax.random.normal(jax.random.key(0), (1, 128, 128, 3))
    out = jax.block_until_ready(st._value_aux_grad(x0, st.variables, targets))
    n = 10
    t = time.perf_counter()
    for _ in range(n):
      out = jax.block_until_ready(st._value_aux_grad(x0, st.variables, targets))
    return {'seconds': (time.perf_counter() - t) / n, 'hash': digest(out)}
  raise ValueError(workload)


def measure(workload: str, threads: int | None, cores: list[int]) -> dict:
  env = dict(os.environ, JAX_PLATFORMS='cpu', JAX_NUM_CPU_DEVICES='1')
  env.pop('PJRT_NPROC', None)
  if threads is not None:
    env['PJRT_NPROC'] = str(threads)
  proc = subprocess.run([sys.executable, __file__, '--child', workload], env=env, cwd=ROOT,
                        capture_output=True, text=True, timeout=1200,
                        preexec_fn=lambda: os.sched_setaffinity(0, set(cores)))
  if proc.returncode != 0:
    raise SystemExit(f'error: {workload} with threads={threads}: {proc.stderr[-2000:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--child', help=argparse.SUPPRESS)
  parser.add_argument('--json', help='write the results here')
  parser.add_argument('--workloads', default='gan,gatys')
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(args.child)))
    return
  all_cores = sorted(os.sched_getaffinity(0))
  core_sets = [all_cores[:1]] + ([all_cores[:2]] if len(all_cores) >= 2 else [])
  settings = [('XLA default (pool = visible cores)', None), ('deterministic, 1 thread', 1),
              ('deterministic, 2 threads (default)', 2), ('deterministic, 4 threads', 4)]
  results = {'command': ' '.join(['python', 'bench/bench_determinism.py'] + sys.argv[1:]),
             'machine': f'{platform.machine()}, {os.cpu_count()} cores, '
                        f'{platform.processor() or platform.platform()}',
             'rows': []}
  for workload in args.workloads.split(','):
    for label, threads in settings:
      for cores in core_sets:
        r = measure(workload, threads, cores)
        row = {'workload': workload, 'setting': label, 'pjrt_nproc': threads,
               'cores': len(cores), **r}
        results['rows'].append(row)
        print(f'{workload:6s} {label:38s} cores={len(cores)} {r["seconds"] * 1e3:9.2f} ms '
              f'{r["hash"]}', flush=True)
  # Relative time: against XLA's default on all the cores used; bits: equal across cores?
  lines = ['| workload | setting | cores | ms per step/eval | time vs XLA default on '
           f'{len(core_sets[-1])} cores | same bits on 1 and {len(core_sets[-1])} cores |',
           '|---|---|---|---|---|---|']
  for row in results['rows']:
    base = next(r for r in results['rows'] if r['workload'] == row['workload'] and
                r['pjrt_nproc'] is None and r['cores'] == len(core_sets[-1]))
    peers = {r['hash'] for r in results['rows'] if r['workload'] == row['workload'] and
             r['setting'] == row['setting']}
    row['relative_time'] = row['seconds'] / base['seconds']
    row['same_bits_across_cores'] = len(peers) == 1
    lines.append(f'| {row["workload"]} | {row["setting"]} | {row["cores"]} | '
                 f'{row["seconds"] * 1e3:.2f} | {row["relative_time"]:.2f} | '
                 f'{"yes" if row["same_bits_across_cores"] else "no"} |')
  results['table'] = '\n'.join(lines)
  print(results['table'])
  if args.json:
    Path(args.json).write_text(json.dumps(results, indent=2) + '\n')
    print(f'wrote {args.json}')


if __name__ == '__main__':
  main()
