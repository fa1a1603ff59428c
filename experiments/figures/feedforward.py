"""results/feedforward: held-out stylisations, loss vs Gatys optimisation, textures, speed.

    # 1. train (see results/feedforward/README.md for the exact commands), then:
    python -m experiments.figures.feedforward heldout --model runs/johnson_starry \
        --images ../shared/data/images/tubingen.jpg data/photos/heldout/chelsea.png \
        --size 256 --lbfgs-iterations 100 --out results/feedforward
    python -m experiments.figures.feedforward texture --model runs/texture_starry \
        --size 128 --out results/feedforward
    python -m experiments.figures.feedforward speed --johnson runs/johnson_starry/model.jaxstyle \
        --texture runs/texture_starry/model.jaxstyle --sizes 256 512 1024 --out results/feedforward

heldout: the network's outputs on images it never saw, and its loss (the training
objective: same loss network, layers, weights, style image size) beside L-BFGS image
optimisation of that objective from the content image, iteration by iteration: the
number of iterations L-BFGS needs to reach the network's loss is the comparison
Johnson et al. (2016) make.
speed: milliseconds per image for each network (jit-compiled, after a warm-up call) and
for Gatys optimisation (the time of a few timed L-BFGS iterations, times the iteration
count). The AdaIN row uses an untrained decoder (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.feedforward import apply, modelfile, nets
from jaxstyle.feedforward import train as ff
from jaxstyle.gatys import transfer
from jaxstyle.io import figures, images
from jaxstyle.perceptual import weights
from jaxstyle.runtime.rundir import write_json


def _split(v):
  return tuple(s.strip() for s in str(v).split(',') if s.strip())


def _hardware():
  return f'{platform.machine()} CPU, {os.cpu_count()} cores, jax {jax.__version__}'


def _settings_of(config: dict, iterations: int) -> transfer.Settings:
  """The Johnson training objective as a Gatys ``Settings`` (same conventions)."""
  l = config['loss']
  return transfer.Settings(
      content_layers=_split(l['content_layers']), style_layers=_split(l['style_layers']),
      style_layer_weights=l['style_layer_weights'], content_weight=float(l['content_weight']),
      style_weight=float(l['style_weight']), tv_weight=float(l['tv_weight']), loss_form='mean',
      pooling='max', optimizer='lbfgs', iterations=iterations, init='content')


def heldout(a):
  model = modelfile.load(a.model, 'johnson')
  config = model.meta['config']
  stylist = apply.load_model(model)
  w = weights.load(config['weights'], config.get('weights_path') or None)
  st = transfer.Stylizer(w, _settings_of(config, a.lbfgs_iterations))
  style = images.load(a.style or config['style_image'], 'style_image')
  style = images.resize(style, images.size_for(style.shape[:2], int(config['style_size'])))
  sheet, records = [], []
  for spec in a.images:
    img = images.load(spec, 'image')
    content = np.asarray(images.resize(img, images.size_for(img.shape[:2], a.size)))
    t0 = time.time()
    out = stylist(content)
    net_seconds = time.time() - t0
    targets = st.targets(content, [style], [1.0])
    net_terms = {k: float(v) for k, v in st.loss_terms(st.preprocess(out), targets).items()}
    trace = []
    t0 = time.time()
    st.optimize(st.initial_image(content.shape[:2], content), targets, a.lbfgs_iterations,
                lambda it, x, terms, evals: trace.append(float(terms['total'])))
    lbfgs_seconds = time.time() - t0
    content_terms = {k: float(v) for k, v in st.loss_terms(st.preprocess(content), targets).items()}
    reach = next((i + 1 for i, v in enumerate(trace) if v <= net_terms['total']), None)
    name = Path(spec).stem
    images.save(Path(a.out) / f'johnson_{name}.png', out)
    sheet.append((content, out))
    records.append({
        'image': name, 'size_hw': list(content.shape[:2]),
        'network_loss': net_terms, 'content_image_loss': content_terms['total'],
        'lbfgs_loss_by_iteration': {str(i): trace[i - 1] for i in (1, 10, 20, 50, 100, 200, 300)
                                    if i <= len(trace)},
        'lbfgs_iterations_to_reach_network_loss': reach,
        'lbfgs_trace': [round(v, 3) for v in trace],
        'lbfgs_iterations_run': len(trace), 'lbfgs_seconds': round(lbfgs_seconds, 1),
        'network_seconds_incl_compile': round(net_seconds, 2)})
    print(json.dumps(records[-1]), flush=True)
  # Contact sheet: content above its stylisation, one column per image (same height).
  h = min(c.shape[0] for c, _ in sheet)
  cols = [[np.asarray(images.resize(c, (h, round(c.shape[1] * h / c.shape[0])))) for c, _ in sheet],
          [np.asarray(images.resize(o, (h, round(o.shape[1] * h / o.shape[0])))) for _, o in sheet]]
  wmax = max(x.shape[1] for x in cols[0])
  pad = lambda x: np.pad(x, ((0, 0), (0, wmax - x.shape[1]), (0, 0)), constant_values=1.0)  # noqa: E731
  images.save(Path(a.out) / 'johnson_heldout.png',
              figures.grid([[pad(x) for x in row] for row in cols]))
  result = {'command': 'python -m experiments.figures.feedforward heldout ' + ' '.join(a.argv),
            'hardware': _hardware(), 'model_step': model.meta.get('step'),
            'weights': config['weights'], 'results': records}
  write_json(Path(a.out) / 'johnson_vs_gatys.json', result)


def texture(a):
  sampler = apply.load(a.model, 'texture')
  model = modelfile.load(a.model, 'texture')
  rows = []
  for scale in (1, 2):
    side = a.size * scale
    t0 = time.time()
    x = sampler.sample(a.num_samples, (side, side), seed=a.seed)
    rows.append({'side': side, 'num_samples': len(x), 'seed': a.seed,
                 'seconds_incl_compile': round(time.time() - t0, 2),
                 'file': f'texture_{side}px.png'})
    images.save(Path(a.out) / f'texture_{side}px.png', figures.image_grid(x, (0.0, 1.0),
                                                                          columns=len(x)))
  source = model.meta['config']['style_image']
  result = {'command': 'python -m experiments.figures.feedforward texture ' + ' '.join(a.argv),
            'hardware': _hardware(), 'model_step': model.meta.get('step'),
            'texture_image': source, 'samples': rows}
  write_json(Path(a.out) / 'texture.json', result)


def _ms(fn, repeats=2) -> float:
  fn()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return 1e3 * best


def speed(a):
  rows = []
  rng = np.random.default_rng(0)
  johnson = apply.load(a.johnson, 'johnson') if a.johnson else None
  texture = apply.load(a.texture, 'texture') if a.texture else None
  config = modelfile.load(a.johnson).meta['config'] if a.johnson else None
  decoder = nets.AdaINDecoder()
  w19 = None
  for size in a.sizes:
    img = rng.uniform(size=(size, size, 3)).astype(np.float32)
    row = {'size': size}
    if johnson:
      row['johnson_ms'] = _ms(lambda: johnson(img))
    if texture:
      row['texture_ms'] = _ms(lambda: texture.sample(1, (size, size)))
    if a.adain_weights:
      if w19 is None:
        w19 = weights.load(a.adain_weights)
        enc = ff.Encoder(w19.arch, tuple(w19.preprocessing.mean_bgr))
        enc_vars = ff.frozen_variables(w19.params, w19.arch)
        dec_params = decoder.init(jax.random.key(0), jnp.zeros((1, 8, 8, 512)))

        @jax.jit
        def adain_fn(c, s):
          fc = enc(enc_vars, c, ('relu4_1',))['relu4_1']
          fs = enc(enc_vars, s, ('relu4_1',))['relu4_1']
          return decoder.apply(dec_params, nets.adain(fc, fs))
      x = jnp.asarray(img[None])
      row['adain_ms'] = _ms(lambda: adain_fn(x, x).block_until_ready())
    if config and a.gatys_iterations:
      w = weights.load(config['weights'])
      st = transfer.Stylizer(w, _settings_of(config, 0))
      targets = st.targets(img, [img], [1.0])
      x0 = st.initial_image((size, size), img)
      st.optimize(x0, targets, 1)  # compile
      # Time iterations after the first: L-BFGS's first line search needs extra evaluations.
      stamps = []
      st.optimize(x0, targets, 1 + a.timed_iterations,
                  lambda *args: stamps.append(time.perf_counter()))
      per_it = (stamps[-1] - stamps[0]) / a.timed_iterations
      row['gatys_lbfgs_ms_per_iteration'] = 1e3 * per_it
      row[f'gatys_{a.gatys_iterations}_iterations_ms'] = 1e3 * per_it * a.gatys_iterations
    print(json.dumps(row), flush=True)
    rows.append(row)
  result = {'command': 'python -m experiments.figures.feedforward speed ' + ' '.join(a.argv),
            'hardware': _hardware(), 'note': 'ms per image, batch 1, best of 2 after a warm-up '
            f'call; Gatys: L-BFGS iterations 2..{1 + a.timed_iterations} timed (the first has '
            f'extra line-search evaluations), per-iteration time x {a.gatys_iterations}',
            'rows': rows}
  write_json(Path(a.out) / 'speed.json', result)


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  sub = p.add_subparsers(dest='what', required=True)
  h = sub.add_parser('heldout')
  h.add_argument('--model', required=True)
  h.add_argument('--images', nargs='+', required=True)
  h.add_argument('--style', default='')
  h.add_argument('--size', type=int, default=256)
  h.add_argument('--lbfgs-iterations', type=int, default=100)
  t = sub.add_parser('texture')
  t.add_argument('--model', required=True)
  t.add_argument('--size', type=int, default=128)
  t.add_argument('--num-samples', type=int, default=4)
  t.add_argument('--seed', type=int, default=0)
  s = sub.add_parser('speed')
  s.add_argument('--johnson', default='')
  s.add_argument('--texture', default='')
  s.add_argument('--adain-weights', default='', help='VGG source for the AdaIN encoder')
  s.add_argument('--sizes', type=int, nargs='+', default=[256, 512, 1024])
  s.add_argument('--gatys-iterations', type=int, default=300)
  s.add_argument('--timed-iterations', type=int, default=2)
  for q in (h, t, s):
    q.add_argument('--out', required=True)
  import sys
  a = p.parse_args()
  a.argv = sys.argv[2:]
  Path(a.out).mkdir(parents=True, exist_ok=True)
  {'heldout': heldout, 'texture': texture, 'speed': speed}[a.what](a)


if __name__ == '__main__':
  main()
