"""Regenerates results/gan/mnist.{md,json} and the sample grids: the Goodfellow et al. 2014
MLP GAN and DCGAN-28 trained on MNIST, scored with Goodfellow's Parzen protocol and the
Fréchet distance in the project's MNIST-classifier features.

    python -m experiments.figures.gan_mnist --out results/gan \\
        --goodfellow-steps 5000 --dcgan-steps 1000 [--mnist ../shared/data/mnist]

The two runs are the sweep ``gan_mnist`` (experiments/sweeps/gan_mnist.py), run by the
sweep runner into --runs; this script reads their eval.json files.

With only the 10k MNIST test images available (``shared10k`` variants), the models train
on images 0:8000, the Parzen sigma is chosen on 8000:9000 and the score is on 9000:10000.
The "training data" row applies the same two metrics to the 8000 training images
themselves (Parzen kernels on real images instead of samples): a reference point for
what each metric gives a perfect memoriser of the training set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from experiments.figures import reproduce_manifest
from jaxstyle.runtime.rundir import write_json
from jaxstyle.sweeps import report

PUBLISHED = 'Goodfellow et al. 2014 Table 1, adversarial nets on MNIST: 225 ± 2 nats (10k test images)'


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--out', default='results/gan')
  p.add_argument('--runs', default='runs/sweeps/gan_mnist')
  p.add_argument('--mnist', default='../shared/data/mnist')
  p.add_argument('--goodfellow-steps', type=int, default=5000)
  p.add_argument('--dcgan-steps', type=int, default=1000)
  args = p.parse_args()
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  subprocess.run([sys.executable, '-m', 'jaxstyle', 'sweep', 'run',
                  f'gan_mnist:goodfellow_steps={args.goodfellow_steps},'
                  f'dcgan_steps={args.dcgan_steps},mnist={args.mnist}', '--dir', args.runs],
                 check=True)
  plan, cells = report.collect(args.runs)
  # Every cell's command and numbers, for `jaxstyle reproduce results/gan`.
  write_json(out / 'mnist.reproduce.json', reproduce_manifest.from_rows(plan, cells, 'mnist.json'))
  commands = {c['name']: c['command'] for c in plan['cells']}
  rows = {}
  for cell in cells:
    name = {'goodfellow': 'goodfellow_mnist', 'dcgan28': 'dcgan28_mnist'}[cell['labels']['model']]
    workdir = Path(args.runs) / 'runs' / cell['name']
    ev = json.loads((workdir / 'eval.json').read_text())
    info = json.loads((workdir / 'run_info.json').read_text())
    cfg = json.loads((workdir / 'config.json').read_text())
    steps = cfg['train']['num_steps']
    shutil.copy(sorted((workdir / 'samples').glob('step_*.png'))[-1], out / f'{name}_samples.png')
    rows[name] = {'steps': steps, 'batch': cfg['train']['batch_size'],
                  'epochs': round(steps * cfg['train']['batch_size'] / 8000, 1),
                  'parzen': ev['parzen'], 'classifier': ev['classifier'],
                  'wall_time_s': info['wall_time_s'], 'commit': info['git']['commit'],
                  'dirty': info['git']['dirty'], 'command': commands[cell['name']]}
  rows['training_data'] = reference_row(args.mnist)
  meta = {'command': ' '.join(['python -m experiments.figures.gan_mnist', *sys.argv[1:]]),
          'hardware': f'{platform.machine()} CPU, {os.cpu_count()} cores',
          'published': PUBLISHED, 'rows': rows}
  (out / 'mnist.json').write_text(json.dumps(meta, indent=2) + '\n')
  lines = ['| Model | Steps (epochs of 8k) | Parzen LL (nats) | sigma | Classifier FD | '
           'Wall time |', '|---|---|---|---|---|---|']
  for name, r in rows.items():
    pz, cl = r['parzen'], r['classifier']
    steps = f'{r["steps"]} ({r["epochs"]})' if 'steps' in r else '-'
    wall = f'{r["wall_time_s"] / 60:.1f} min' if 'wall_time_s' in r else '-'
    lines.append(f'| {name} | {steps} | {pz["log_likelihood"]:.1f} ± {pz["stderr"]:.1f} | '
                 f'{pz["sigma"]:.3f} | {cl["frechet_distance"]:.2f} | {wall} |')
  (out / 'mnist.md').write_text('\n'.join(lines) + '\n')
  print('\n'.join(lines))


def reference_row(mnist):
  from jaxstyle.gan.evaluation import mnist_arrays
  from jaxstyle.metrics import classifier, frechet, parzen
  train_x, train_y = mnist_arrays(mnist, 'test:0:8000')
  valid, _ = mnist_arrays(mnist, 'test:8000:9000')
  test, _ = mnist_arrays(mnist, 'test:9000:10000')
  pz = parzen.evaluate(train_x.reshape(-1, 784), valid.reshape(-1, 784), test.reshape(-1, 784))
  params = classifier.cached(train_x, train_y, seed=0)
  fd = frechet.fid_from_features(classifier.predict(params, train_x, features=True),
                                 classifier.predict(params, test, features=True))
  return {'parzen': pz, 'classifier': {'frechet_distance': fd}, 'note':
          'the 8000 training images used as Parzen kernels / as the generated set'}


if __name__ == '__main__':
  main()
