"""Regenerates results/gatys/: the paper's Figure 2 pairs and a style-weight sweep.

    python -m experiments.figures.gatys_fig2 --images ../shared/data/images --out results/gatys

Each run is the same as the printed `python -m experiments.main ...` command; its
run directory goes under --runs, and the PNGs, a JSON summary and a Markdown table
go to --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import time
from pathlib import Path

import jax
import numpy as np

from experiments import gatys
from experiments.configs import gatys as gatys_config
from jaxstyle import images, run_info

SWEEP_STYLE_WEIGHTS = (1e1, 1e2, 1e3, 1e4)


def runs(image_dir: Path, size: int, iterations: int, sweep_size: int, sweep_iterations: int):
  common = dict(weights='hed_vgg16', content_image=str(image_dir / 'tubingen.jpg'))
  yield 'tubingen_starry_night', 'hed', dict(
      common, style_images=str(image_dir / 'starry_night.jpg'), image_size=size,
      iterations=iterations)
  yield 'tubingen_shipwreck', 'hed', dict(
      common, style_images=str(image_dir / 'shipwreck.jpg'), image_size=size,
      iterations=iterations)
  for w in SWEEP_STYLE_WEIGHTS:
    yield f'sweep_style_weight_{w:g}', 'hed', dict(
        common, style_images=str(image_dir / 'starry_night.jpg'), image_size=sweep_size,
        iterations=sweep_iterations, style_weight=w, save_every=0)


def command(variant: str, overrides: dict, workdir: Path) -> str:
  args = ['python', '-m', 'experiments.main', '--config',
          f'experiments/configs/gatys.py:{variant}', f'--workdir={workdir}']
  args += [f'--config.{k}={v}' for k, v in overrides.items()]
  return shlex.join(args)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--images', type=Path, default=Path('../shared/data/images'))
  parser.add_argument('--out', type=Path, default=Path('results/gatys'))
  parser.add_argument('--runs', type=Path, default=Path('runs/gatys_fig2'))
  parser.add_argument('--size', type=int, default=384)
  parser.add_argument('--iterations', type=int, default=300)
  parser.add_argument('--sweep-size', type=int, default=256)
  parser.add_argument('--sweep-iterations', type=int, default=150)
  parser.add_argument('--only', default='', help='comma-separated run names')
  args = parser.parse_args()
  args.out.mkdir(parents=True, exist_ok=True)
  summary_path = args.out / 'results.json'
  summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
  only = set(filter(None, args.only.split(',')))
  for name, variant, overrides in runs(args.images, args.size, args.iterations,
                                       args.sweep_size, args.sweep_iterations):
    if only and name not in only:
      continue
    workdir = args.runs / name
    cmd = command(variant, overrides, workdir)
    print(cmd, flush=True)
    config = gatys_config.get_config(variant)
    config.update(overrides)
    t0 = time.time()
    info = gatys.run(config, workdir, show_progress=False)
    if not name.startswith('sweep_'):
      images.save(args.out / f'{name}.png', gatys.load_result(workdir))
    summary[name] = {
        'command': cmd, 'backbone': info['backbone'], 'weights': info['weights'],
        'output_size': info['output_sizes'][-1], 'iterations': info['iterations_done'],
        'wall_time_s': round(time.time() - t0, 1), 'final_losses': info['final_losses'],
        'hardware': f'{platform.processor() or platform.machine()}, '
                    f'{info["cpu_count"]} CPU cores, {jax.devices()[0].device_kind}',
        'git': info['git'], 'packages': {k: info['packages'][k] for k in ('jax', 'flax', 'optax')},
    }
    print(f'  {name}: {summary[name]["wall_time_s"]} s, loss '
          f'{info["final_losses"]["total"]:.6g}', flush=True)
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + '\n')
  sweep = [n for n in summary if n.startswith('sweep_')]
  if sweep:
    order = sorted(sweep, key=lambda n: float(n.rsplit('_', 1)[1]))
    tiles = [images.resize(gatys.load_result(args.runs / n), (192, 256)) for n in order]
    images.save(args.out / 'sweep_style_weight.png', images.contact_sheet([tiles]))


if __name__ == '__main__':
  main()
