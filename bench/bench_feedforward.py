"""Johnson et al.'s transformation network: jaxstyle vs the same network in PyTorch.

    python bench/bench_feedforward.py [--size 512] [--batches 1 8] [--train-size 256] \
        [--train-batch 4] [--repeats 3] [--out bench/results/feedforward_2core_cpu.json]

Stylisation: forward passes (jaxstyle's inference kernels, ``conv_impl='auto'``) of the
full-width network (32, 64, 128; 5 residual blocks)
at SIZE x SIZE for each batch size, the same weights on both sides (jaxstyle's
parameters loaded into pytorch/examples' TransformerNet layout).
Training step: network forward + backward, VGG-16 (up to relu4_3, the same weights) on
the output and the content, Gram style loss at relu1_2/2_2/3_3/4_3, content loss at
relu2_2, TV, Adam -- one step at TRAIN_SIZE, batch TRAIN_BATCH, both sides.
One process, one run: read the ratios; absolute times on a shared 2-core VM vary by ~10%.
JAX runs on one device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the PyTorch reference in tests/

from jaxstyle.feedforward import convert, nets  # noqa: E402
from jaxstyle.feedforward import train as ff  # noqa: E402
from jaxstyle.gatys.transfer import resolve_layer_weights  # noqa: E402
from jaxstyle.perceptual import weights  # noqa: E402
from tests import torch_reference  # noqa: E402

STYLE = ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3')


def _time(fn, repeats: int) -> float:
  fn()  # compile / warm up
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return best


def torch_net_with(params_state: dict):
  import torch
  net = torch_reference.transformer_net()
  sd = net.state_dict()
  with torch.no_grad():
    for k, v in params_state.items():
      sd[k].copy_(torch.from_numpy(np.ascontiguousarray(v)))
  net.load_state_dict(sd)
  return net


def matched_nets(seed=0, inference=False):
  """The torch net with random init, and the same weights as a jaxstyle TransformNet."""
  import torch
  torch.manual_seed(seed)
  tnet = torch_reference.transformer_net()
  model = convert.from_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
  jnet = nets.TransformNet(conv_impl='auto' if inference else 'xla')
  return tnet, jnet, model.variables['params']


def stylise_times(size: int, batches, repeats: int) -> list:
  import torch
  tnet, jnet, params = matched_nets(inference=True)
  tnet.eval()
  apply = jax.jit(jnet.apply)
  rows = []
  for b in batches:
    x = np.random.default_rng(0).uniform(size=(b, size, size, 3)).astype(np.float32)
    xt = torch.from_numpy(x * 255).permute(0, 3, 1, 2).contiguous()
    jx = jnp.asarray(x)
    with torch.no_grad():
      ref = tnet(xt).permute(0, 2, 3, 1).numpy() / 255
      t_torch = _time(lambda: tnet(xt), repeats)
    out = np.asarray(apply({'params': params}, jx))
    t_jax = _time(lambda: apply({'params': params}, jx).block_until_ready(), repeats)
    rows.append({'size': size, 'batch': b, 'jax_ms_per_image': 1e3 * t_jax / b,
                 'torch_ms_per_image': 1e3 * t_torch / b, 'speedup_jax_over_torch': t_torch / t_jax,
                 'max_abs_diff_0_1': float(np.max(np.abs(out - ref)))})
    print(json.dumps(rows[-1]), flush=True)
  return rows


def train_step_times(size: int, batch: int, repeats: int) -> dict:
  import torch
  tnet, jnet, params = matched_nets()
  w = weights.load('hed_vgg16')
  mean = weights.HED_MEAN_BGR
  loss = ff.Perceptual(('relu2_2',), STYLE, resolve_layer_weights('inv_channels_sq', STYLE),
                       1.0, 5e-3, 0.2)
  encoder = ff.Encoder('vgg16', mean)
  enc_vars = ff.frozen_variables(w.params, 'vgg16')
  rng = np.random.default_rng(0)
  style = rng.uniform(size=(size, size, 3)).astype(np.float32)
  content = rng.uniform(size=(1, batch, size, size, 3)).astype(np.float32)
  grams = jax.jit(loss.style_targets, static_argnums=0)(encoder, enc_vars, style)
  task = ff.JohnsonTask(jnet, encoder, loss)
  opt = ff.make_optimizer(ml_collections.ConfigDict(dict(name='adam', lr=1e-3)))
  tr = ff.Trainer(task, opt, size)
  state = tr.init(0).replace(params=params)
  state = state.replace(opt_state=opt.init(params))
  step = jax.jit(jax.pmap(tr.step, axis_name='batch', in_axes=(None, 1, None, None),
                          out_axes=(None, None), devices=jax.devices()[:1]))
  holder = {'state': state}

  def jax_step():
    holder['state'], m = step(holder['state'], content[:, None], enc_vars, grams)
    jax.block_until_ready(m)
    return m

  t_jax = _time(jax_step, repeats)
  jax_loss = float(jax_step()['total'])

  # PyTorch: the same objective, written out with torch ops.
  feats = torch_reference.vgg_features('vgg16', 'relu4_3').load_jax(w.params)
  for p in feats.parameters():
    p.requires_grad_(False)
  mean_bgr = torch.tensor(mean).view(1, 3, 1, 1)
  pre = lambda rgb01: rgb01.flip(1) * 255 - mean_bgr  # noqa: E731  (NCHW RGB [0,1] -> Caffe)
  gram = lambda f: torch.einsum('bchw,bdhw->bcd', f, f) / (f.shape[2] * f.shape[3])  # noqa: E731
  s = torch.from_numpy(style).permute(2, 0, 1)[None]
  with torch.no_grad():
    sf = feats(pre(s))
    targets = {l: gram(sf[l]) for l in STYLE}
  x = torch.from_numpy(content[0]).permute(0, 3, 1, 2).contiguous()
  opt_t = torch.optim.Adam(tnet.parameters(), lr=1e-3)
  layer_w = resolve_layer_weights('inv_channels_sq', STYLE)

  def torch_step():
    opt_t.zero_grad()
    out = tnet(x * 255) / 255
    with torch.no_grad():
      cf = feats(pre(x))['relu2_2']
    fo = feats(pre(out))
    total = torch.mean((fo['relu2_2'] - cf) ** 2)
    for l, lw in zip(STYLE, layer_w):
      total = total + 5e-3 * lw * torch.mean((gram(fo[l]) - targets[l]) ** 2)
    po = pre(out)
    tv = torch.mean((po[:, :, 1:] - po[:, :, :-1]) ** 2) + torch.mean((po[..., 1:] - po[..., :-1]) ** 2)
    total = total + 0.2 * tv
    total.backward()
    opt_t.step()
    return float(total)

  t_torch = _time(torch_step, repeats)
  row = {'size': size, 'batch': batch, 'jax_s_per_step': t_jax, 'torch_s_per_step': t_torch,
         'speedup_jax_over_torch': t_torch / t_jax, 'jax_loss_after_warmup': jax_loss}
  print(json.dumps(row), flush=True)
  return row


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--size', type=int, default=512)
  p.add_argument('--batches', type=int, nargs='+', default=[1, 8])
  p.add_argument('--train-size', type=int, default=256)
  p.add_argument('--train-batch', type=int, default=4)
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--out', default='')
  a = p.parse_args()
  import torch
  result = {
      'command': 'python bench/bench_feedforward.py ' + ' '.join(
          f'--{k.replace("_", "-")} {" ".join(map(str, v)) if isinstance(v, list) else v}'
          for k, v in vars(a).items() if k != 'out' and v != ''),
      'machine': f'{platform.machine()}, {os.cpu_count()} cores', 'jax': jax.__version__,
      'torch': torch.__version__, 'torch_threads': torch.get_num_threads(),
      'timing': f'best of {a.repeats} after one warm-up call',
      'stylise': stylise_times(a.size, a.batches, a.repeats),
      'train_step': train_step_times(a.train_size, a.train_batch, a.repeats)}
  if a.out:
    with open(a.out, 'w') as f:
      json.dump(result, f, indent=2)
      f.write('\n')


if __name__ == '__main__':
  main()
