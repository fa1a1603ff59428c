"""Regenerates results/gan/mixtures.{md,json} and the scatter plots: PacGAN's 2D ring and
grid with the plain GAN (non-saturating loss, PacGAN's nets and optimiser), >= 3 seeds.

    python -m experiments.figures.gan_mixtures --out results/gan --steps 10000 --seeds 3

The runs are the sweep ``gan_mixtures`` (experiments/sweeps/gan_mixtures.py), run by the
sweep runner into --runs (finished cells are kept, interrupted ones resume); this script
then reads each cell's eval.json and writes the table beside PacGAN's published row.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from experiments.figures import reproduce_manifest
from jaxstyle.runtime.rundir import write_json
from jaxstyle.sweeps import report

# PacGAN Table 1, "GAN" row (Lin et al. 2018): mean +- s.e. over 10 trials, 400 epochs.
PUBLISHED = {'ring8': {'modes': (6.3, 0.5), 'hq': (98.2, 0.2), 'reverse_kl': (0.45, 0.09)},
             'grid25': {'modes': (17.3, 0.8), 'hq': (94.8, 0.7), 'reverse_kl': (0.70, 0.07)}}


def mean_se(values):
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--out', default='results/gan')
  p.add_argument('--runs', default='runs/sweeps/gan_mixtures')
  p.add_argument('--steps', type=int, default=10_000)
  p.add_argument('--seeds', type=int, default=3, help='seeds 0..N-1')
  p.add_argument('--extra', nargs='*', default=[], help='more --config.key=value overrides')
  args = p.parse_args()
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  subprocess.run([sys.executable, '-m', 'jaxstyle', 'sweep', 'run',
                  f'gan_mixtures:steps={args.steps},seeds={args.seeds}', '--dir', args.runs,
                  *args.extra], check=True)
  plan, rows = report.collect(args.runs)
  # Every cell's command and numbers, for `jaxstyle reproduce results/gan`.
  write_json(out / 'mixtures.reproduce.json',
             reproduce_manifest.from_rows(plan, rows, 'mixtures.json'))
  table = {}
  for mixture in plan['axes'][0]['labels']:
    cells = []
    for row in [r for r in rows if r['labels']['data'] == mixture]:
      workdir = Path(args.runs) / 'runs' / row['name']
      ev = json.loads((workdir / 'eval.json').read_text())
      info = json.loads((workdir / 'run_info.json').read_text())
      cells.append({'seed': row['seed'], 'modes': ev['modes'], 'hq': 100 * ev['hq'],
                    'reverse_kl': ev['reverse_kl'], 'wall_time_s': info['wall_time_s'],
                    'commit': info['git']['commit'], 'dirty': info['git']['dirty'],
                    'counts': ev['counts']})
      last = sorted((workdir / 'samples').glob('step_*.png'))[-1]
      shutil.copy(last, out / f'{mixture}_s{row["seed"]}.png')
    kls = [c['reverse_kl'] for c in cells if c['reverse_kl'] is not None]
    table[mixture] = {'cells': cells, 'modes': mean_se([c['modes'] for c in cells]),
                      'hq': mean_se([c['hq'] for c in cells]),
                      'reverse_kl': mean_se(kls) if kls else None}
  seeds = list(range(args.seeds))
  info = {'command': ' '.join(['python -m experiments.figures.gan_mixtures', *sys.argv[1:]]),
          'steps': args.steps, 'seeds': seeds, 'hardware': f'{platform.machine()} CPU, '
          f'{__import__("os").cpu_count()} cores', 'results': table, 'published': PUBLISHED}
  (out / 'mixtures.json').write_text(json.dumps(info, indent=2) + '\n')
  fmt = lambda ms, d=1: f'{ms[0]:.{d}f} ± {ms[1]:.{d}f}'  # noqa: E731
  lines = ['| Mixture | Source | Steps | Modes | High-quality % | Reverse KL |',
           '|---|---|---|---|---|---|']
  for mixture, r in table.items():
    total = 8 if mixture == 'ring8' else 25
    pub = PUBLISHED[mixture]
    lines.append(f'| {mixture} | PacGAN Table 1, GAN (10 trials) | 400 epochs (400k) | '
                 f'{fmt(pub["modes"])} / {total} | {fmt(pub["hq"])} | {fmt(pub["reverse_kl"], 2)} |')
    kl = fmt(r['reverse_kl'], 2) if r['reverse_kl'] else 'n/a'
    lines.append(f'| {mixture} | jaxstyle, {len(seeds)} seeds | {args.steps} | '
                 f'{fmt(r["modes"])} / {total} | {fmt(r["hq"])} | {kl} |')
  (out / 'mixtures.md').write_text('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
