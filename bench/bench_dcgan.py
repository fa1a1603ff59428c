"""DCGAN-28 training step: jaxstyle (each conv formulation) vs the same step in PyTorch.

    python bench/bench_dcgan.py [--batch 64] [--steps 20] [--parts] [--out bench/results/dcgan.json]

Both sides run the same networks (dcgan28: z 100 -> 7x7x128 -> 14x14x64 -> 28x28x1 with
BatchNorm; D 28 -> 14x14x64 -> 7x7x128 (BN) -> logit), the non-saturating loss, Adam(2e-4,
0.5) for D and G, and the same step structure: D update on a real batch and G(z1), then a G
update on G(z2). One process, one run; the ratio is what to read, since absolute times on
a shared 2-core VM vary by ~10%. JAX runs on one device (no simulated devices).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from jaxstyle.gan import models, train
from jaxstyle.kernels import strided_conv  # noqa: E402
from jaxstyle.runtime import parallel  # noqa: E402


def jax_step_time(impl: str, batch: int, steps: int) -> float:
  m = models.build(ml_collections.ConfigDict({'arch': 'dcgan28', 'conv_impl': impl}), (28, 28, 1))
  adam = ml_collections.ConfigDict(dict(name='adam', lr=2e-4, b1=0.5, b2=0.999))
  tr = train.GANTrainer(m, train.StepConfig(), train.make_optimizer(adam), train.make_optimizer(adam))
  dp = parallel.DataParallel(tr.step, 'pmap')
  state = dp.put_state(tr.init(0, (28, 28, 1)))
  x = np.random.default_rng(0).uniform(-1, 1, (1, batch, 28, 28, 1)).astype(np.float32)
  for _ in range(3):
    state, metrics = dp(state, x)
  jax.block_until_ready(state)
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = dp(state, x)
  jax.block_until_ready(state)
  return (time.perf_counter() - t) / steps


def jax_part_times(impl: str, batch: int, steps: int) -> dict:
  """Milliseconds for G and D forward + backward (BatchNorm in training mode)."""
  import jax.numpy as jnp
  m = models.build(ml_collections.ConfigDict({'arch': 'dcgan28', 'conv_impl': impl}), (28, 28, 1),
                   bn_axis=None)
  z, x = jnp.ones((batch, 100)), jnp.ones((batch, 28, 28, 1))
  gv = m.generator.init(jax.random.key(0), z, train=False)
  dv = m.discriminator.init(jax.random.key(0), x, train=False)
  g = lambda p, z: m.generator.apply({**gv, 'params': p}, z, train=True,  # noqa: E731
                                     mutable=['batch_stats'])[0]
  d = lambda p, x: m.discriminator.apply({**dv, 'params': p}, x, train=True,  # noqa: E731
                                         mutable=['batch_stats'])[0]
  parts = {'g_fwd_bwd': (jax.grad(lambda p, z: jnp.sum(g(p, z) ** 2)), gv['params'], z),
           'd_fwd_bwd_params': (jax.grad(lambda p, x: jnp.sum(d(p, x) ** 2)), dv['params'], x),
           'd_fwd_bwd_input': (jax.grad(lambda x, p: jnp.sum(d(p, x) ** 2)), x, dv['params'])}
  out = {}
  for name, (fn, a, b) in parts.items():
    fn = jax.jit(fn)
    jax.block_until_ready(fn(a, b))
    t = time.perf_counter()
    for _ in range(steps):
      r = fn(a, b)
    jax.block_until_ready(r)
    out[name] = 1e3 * (time.perf_counter() - t) / steps
  return out


def torch_step_time(batch: int, steps: int, threads: int) -> float:
  import torch
  from torch import nn
  torch.set_num_threads(threads)
  g = nn.Sequential(
      nn.ConvTranspose2d(100, 128, 7, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
      nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), nn.Tanh())
  d = nn.Sequential(
      nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
      nn.Conv2d(128, 1, 7, 1, 0, bias=False))
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  real = torch.rand(batch, 1, 28, 28) * 2 - 1
  ones, zeros = torch.ones(batch), torch.zeros(batch)

  def step():
    with torch.no_grad():
      fake = g(torch.randn(batch, 100, 1, 1))
    opt_d.zero_grad(set_to_none=True)
    loss_d = bce(d(real).view(-1), ones) + bce(d(fake).view(-1), zeros)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    loss_g = bce(d(g(torch.randn(batch, 100, 1, 1))).view(-1), ones)
    loss_g.backward()
    opt_g.step()

  for _ in range(3):
    step()
  t = time.perf_counter()
  for _ in range(steps):
    step()
  return (time.perf_counter() - t) / steps


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--batch', type=int, default=64)
  p.add_argument('--steps', type=int, default=20)
  p.add_argument('--out', default='')
  p.add_argument('--parts', action='store_true', help='also time G and D forward+backward')
  args = p.parse_args()
  threads = os.cpu_count()
  result = {'batch': args.batch, 'steps': args.steps, 'machine': platform.machine(),
            'cpu_count': threads, 'jax': jax.__version__, 'device': str(jax.devices()[0])}
  try:
    import torch
    result['torch'] = torch.__version__
    result['torch_s_per_step'] = torch_step_time(args.batch, args.steps, threads)
  except ImportError:
    result['torch_s_per_step'] = None
  for impl in strided_conv.IMPLS:
    t = jax_step_time(impl, args.batch, args.steps)
    result[f'jax_{impl}_s_per_step'] = t
    if result['torch_s_per_step']:
      result[f'speed_vs_torch_{impl}'] = result['torch_s_per_step'] / t
    if args.parts:
      result[f'jax_{impl}_parts_ms'] = jax_part_times(impl, args.batch, args.steps)
  print(json.dumps(result, indent=2))
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(result, f, indent=2)
      f.write('\n')


if __name__ == '__main__':
  main()
