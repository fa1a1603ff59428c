"""The accelerator check: one command, a few minutes on one GPU, one table.

    python bench/device_check.py [--out bench/results/device_check_NAME.json] [--quick]

Prints the backend and device, then per measurement one row:

  matmul TFLOP/s         8192^2 float32 (the backend's default precision, and HIGHEST)
                         and bfloat16, same run
  Gatys 512 px           seconds per L-BFGS iteration and for a run of 500 iterations (fewer
                         if L-BFGS stops at the float32 noise floor: iterations_run says),
                         VGG-19, per-backend default kernels and the CPU formulations
                         (vgg_conv_impl=winograd); objective evaluations per iteration
  DCGAN-64 training      images/s at batch 128 (dcgan_celeba64's networks and step),
                         float32 and bfloat16 mixed precision
  Johnson training step  256 px, batch 16, seconds per step (johnson's network and loss)
  Johnson inference      one 1024 x 1024 image through ``jaxstyle stylise``'s path
  parallel modes         the DCGAN-64 step under pmap and shard_map on all local devices

Weights are random (no download on an accelerator host without network; timings do
not depend on the values, L-BFGS evaluations per iteration are reported). Every
network, step and optimiser is the one ``jaxstyle run`` builds from the shipped config.
Targets, for context: neural-style reports ~30 s for 500 iterations at 512 px on a
Pascal Titan X; the issue asks for under 20 s on an H100-class GPU.

``--quick`` shrinks every size to check that the script runs on a CPU (a few minutes on
2 cores, dominated by compilation). Each section is timed after one warm-up call
(compilation excluded; reported separately as warmup_s). Under 5 minutes on one GPU is
the design target; it has not run on a GPU yet (bench/README.md says when it has).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxstyle import data
from jaxstyle.feedforward import apply as ff_apply
from jaxstyle.feedforward import task as ff_task
from jaxstyle.gan import task as gan_task
from jaxstyle.gatys import transfer
from jaxstyle.kernels import select
from jaxstyle.perceptual import vgg, weights
from jaxstyle.runtime import config as config_lib
from jaxstyle.runtime import parallel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/weight_files.py
from tests.weight_files import write_keras2  # noqa: E402


def _sync(tree):
  return jax.block_until_ready(tree)


def _time(fn, repeats: int) -> tuple[float, float]:
  """(seconds of the first call, median seconds of ``repeats`` later calls)."""
  t0 = time.perf_counter()
  _sync(fn())
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    _sync(fn())
    times.append(time.perf_counter() - t0)
  return first, float(np.median(times))


def matmul(n: int, repeats: int) -> dict:
  out = {}
  a32 = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  cases = {'f32_default': (a32, None), 'f32_highest': (a32, jax.lax.Precision.HIGHEST),
           'bf16': (a32.astype(jnp.bfloat16), None)}
  for name, (a, prec) in cases.items():
    f = jax.jit(lambda a, prec=prec: jnp.dot(a, a, precision=prec))
    _, t = _time(lambda: f(a), repeats)
    out[f'tflops_{name}'] = 2 * n ** 3 / t / 1e12
  return out


def _smooth_image(size: int, seed: int) -> np.ndarray:
  """A smooth random RGB image in [0, 1] (low-frequency noise, upsampled)."""
  rng = np.random.default_rng(seed)
  small = (rng.uniform(size=(8, 8, 3)) * 255).astype(np.uint8)
  return np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC),
                    np.float32) / 255.0


def gatys(size: int, iterations: int) -> dict:
  params = vgg.random_params(jax.random.key(0), 'vgg19')
  loaded = weights.LoadedWeights(weights.SOURCES['keras_vgg19'], None, params)
  content, style = _smooth_image(size, 1), _smooth_image(size, 2)
  out = {}
  for label, impl in (('default', 'auto'), ('cpu_formulation', 'winograd')):
    settings = transfer.Settings(iterations=iterations, vgg_conv_impl=impl)
    st = transfer.Stylizer(loaded, settings)
    targets = st.targets(content, [style], [1.0])
    x0 = st.preprocess(content)
    t0 = time.perf_counter()
    _sync(st.optimize(x0, targets, 2))  # compile the evaluation program
    compile_s = time.perf_counter() - t0
    evals = []
    t0 = time.perf_counter()
    x = st.optimize(x0, targets, iterations, callback=lambda it, x, terms, n: evals.append(n))
    _sync(x)
    seconds = time.perf_counter() - t0
    done = len(evals)
    out[label] = {'vgg_conv': st.vgg_conv, 'iterations_run': done,
                  'seconds_per_iteration': seconds / max(done, 1),
                  'seconds_for_run': seconds,
                  # num_evals is cumulative; the first iteration's count includes the
                  # evaluation of the starting point, so count from the first callback.
                  'evals_per_iteration': (evals[-1] - evals[0]) / (done - 1) if done > 1 else None,
                  'warmup_s': compile_s}
  return out


def _write_jpegs(folder: Path, n: int, hw: tuple[int, int]) -> None:
  folder.mkdir(parents=True, exist_ok=True)
  for i in range(n):
    img = (_smooth_image(max(hw), i)[:hw[0], :hw[1]] * 255).astype(np.uint8)
    Image.fromarray(img).save(folder / f'{i:04d}.jpg', quality=90)


def _gan_step(tmp: Path, precision: str, mode: str, batch: int, size: int, steps: int) -> dict:
  c = config_lib.load('dcgan_celeba64')
  c.data.kind, c.data.path = 'folder', str(tmp / 'faces')
  c.data.image_size = size
  c.train.batch_size = batch
  c.precision = precision
  c.parallel.mode = mode
  source, shape, _, trainer = gan_task.build(c)
  dp = parallel.DataParallel(data.normalizing(trainer.step, c.data.range), mode)
  # The loader of `jaxstyle run`: uint8 rows, scaled to the model's range on the device.
  loader = data.Loader(source, batch, trainer.cfg.d_steps, 0, data.loader_transform(c.data), 0,
                       1, **data.loader_options(c.data))
  try:
    x = loader.batch(0)
  finally:
    loader.close()
  state = dp.put_state(trainer.init(0, shape))
  holder = [state]

  def one():
    holder[0], metrics = dp(holder[0], x)
    return metrics
  first, t = _time(one, steps)
  return {'batch': batch, 'images_per_s': batch / t, 'seconds_per_step': t, 'warmup_s': first,
          'local_devices': jax.local_device_count()}


def _johnson(tmp: Path, crop: int, batch: int, infer_size: int, steps: int) -> dict:
  convs = {name: (np.asarray(params[name + '_kernel']), np.asarray(params[name + '_bias']))
           for params in [vgg.random_params(jax.random.key(0), 'vgg16')]
           for name in vgg.conv_names('vgg16')}
  weight_file = write_keras2(tmp / 'vgg16_random.h5', convs)
  c = config_lib.load('johnson')
  c.weights, c.weights_path, c.weights_verify = 'keras_vgg16', str(weight_file), False
  c.data.kind, c.data.path = 'folder', str(tmp / 'photos')
  c.data.crop, c.data.resize = crop, crop
  c.style_image = str(tmp / 'photos' / '0000.jpg')
  c.train.batch_size = batch
  trainer, consts, batch_fn, closers, info, w = ff_task.build(c)
  try:
    x = batch_fn(0)
  finally:
    for close in closers:
      close()
  dp = parallel.DataParallel(data.normalizing(trainer.step, '[0,1]'), c.parallel.mode,
                             num_consts=len(consts))
  consts = dp.put_state(consts)
  holder = [dp.put_state(trainer.init(0))]

  def one():
    holder[0], metrics = dp(holder[0], x, *consts)
    return metrics
  first, t = _time(one, steps)
  out = {'train_seconds_per_step': t, 'train_warmup_s': first, 'kernels': info['kernels']}
  state = parallel.host_local(holder[0])
  stylist = ff_apply.TransformStylist(ff_task.saved_model(c, state, w, 0))
  image = _smooth_image(infer_size, 3)
  first, t = _time(lambda: stylist(image), 3)
  out.update(infer_size=infer_size, infer_seconds=t, infer_warmup_s=first)
  return out


def _section(results: dict, name: str, fn) -> None:
  t0 = time.perf_counter()
  try:
    results[name] = fn()
  except Exception as e:  # noqa: BLE001 - one failed section must not hide the others
    results[name] = {'error': f'{type(e).__name__}: {e}'.splitlines()[0][:300]}
    traceback.print_exc(file=sys.stderr)
  results[name + '_section_s'] = round(time.perf_counter() - t0, 1)
  print(f'[{name} done in {results[name + "_section_s"]} s]', file=sys.stderr, flush=True)


def _fmt(v, spec='.3g'):
  return format(v, spec) if isinstance(v, (int, float)) else str(v)


def table(r: dict) -> str:
  lines = [f"backend {r['backend']} | {r['device_kind']} x {r['device_count']} | jax "
           f"{r['jax']} | {r['date']}",
           '| measurement | value |', '|---|---|']

  def row(name, value):
    lines.append(f'| {name} | {value} |')
  m = r.get('matmul', {})
  if 'error' in m:
    row('matmul', m['error'])
  else:
    row(f"matmul {r['sizes']['matmul']}^2 TFLOP/s: f32 default / f32 HIGHEST / bf16",
        ' / '.join(_fmt(m.get(k)) for k in ('tflops_f32_default', 'tflops_f32_highest',
                                             'tflops_bf16')))
  g = r.get('gatys', {})
  for label in ('default', 'cpu_formulation'):
    if 'error' in g:
      row('Gatys', g['error'])
      break
    d = g[label]
    row(f"Gatys {r['sizes']['gatys']} px L-BFGS, {label} ({d['vgg_conv']})",
        f"{_fmt(d['seconds_per_iteration'])} s/iteration; {_fmt(d['seconds_for_run'])} s for "
        f"{d['iterations_run']} iterations; {_fmt(d['evals_per_iteration'])} evals/iteration")
  for precision in ('float32', 'bfloat16'):
    d = r.get(f'dcgan64_{precision}', {})
    row(f"DCGAN-64 train, batch {d.get('batch', r['sizes']['dcgan_batch'])}, {precision}",
        d.get('error') or f"{_fmt(d['images_per_s'], '.0f')} images/s "
        f"({_fmt(d['seconds_per_step'])} s/step)")
  j = r.get('johnson', {})
  if 'error' in j:
    row('Johnson', j['error'])
  else:
    row(f"Johnson train step, {r['sizes']['johnson_crop']} px, batch "
        f"{r['sizes']['johnson_batch']}", f"{_fmt(j['train_seconds_per_step'])} s/step")
    row(f"Johnson inference, {j['infer_size']} px", f"{_fmt(j['infer_seconds'])} s/image")
  for mode in parallel.MODES:
    d = r.get(f'parallel_{mode}', {})
    row(f"DCGAN-64 step under {mode}, {d.get('local_devices', '?')} device(s)",
        d.get('error') or f"{_fmt(d['seconds_per_step'])} s/step")
  return '\n'.join(lines)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--out', help='write the results as JSON here')
  ap.add_argument('--quick', action='store_true', help='tiny sizes: check the script on a CPU')
  args = ap.parse_args(argv)
  q = args.quick
  sizes = dict(matmul=512 if q else 8192, gatys=64 if q else 512, gatys_iterations=5 if q else 500,
               dcgan_batch=16 if q else 128, dcgan_size=64, johnson_crop=64 if q else 256,
               johnson_batch=2 if q else 16, johnson_infer=128 if q else 1024,
               steps=2 if q else 20)
  dev = jax.devices()[0]
  r = {'backend': jax.default_backend(), 'platform': select.platform(),
       'device_kind': dev.device_kind, 'device_count': jax.device_count(), 'jax': jax.__version__,
       'python': platform.python_version(), 'host': platform.node(),
       'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'quick': q, 'sizes': sizes,
       'command': ' '.join(['python', 'bench/device_check.py', *(argv or sys.argv[1:])])}
  print(f"{r['backend']} {r['device_kind']} x {r['device_count']}", file=sys.stderr, flush=True)
  t_start = time.perf_counter()
  with tempfile.TemporaryDirectory() as d:
    tmp = Path(d)
    _write_jpegs(tmp / 'faces', 2 * sizes['dcgan_batch'], (80, 72))
    _write_jpegs(tmp / 'photos', 2 * sizes['johnson_batch'] + 2,
                 (sizes['johnson_crop'] + 40, sizes['johnson_crop'] + 60))
    _section(r, 'matmul', lambda: matmul(sizes['matmul'], 5))
    _section(r, 'gatys', lambda: gatys(sizes['gatys'], sizes['gatys_iterations']))
    # The global batch must split over the devices: 128 on 1, 2, 4 or 8 GPUs, 126 on 3 or 6.
    batch = sizes['dcgan_batch'] - sizes['dcgan_batch'] % jax.device_count()
    for precision in ('float32', 'bfloat16'):
      _section(r, f'dcgan64_{precision}', lambda p=precision: _gan_step(
          tmp, p, 'pmap', batch, sizes['dcgan_size'], sizes['steps']))
    _section(r, 'johnson', lambda: _johnson(tmp, sizes['johnson_crop'], sizes['johnson_batch'],
                                            sizes['johnson_infer'], sizes['steps']))
    for mode in parallel.MODES:
      _section(r, f'parallel_{mode}', lambda m=mode: _gan_step(
          tmp, 'float32', m, batch, sizes['dcgan_size'], sizes['steps']))
  r['total_s'] = round(time.perf_counter() - t_start, 1)
  text = table(r) + f"\n\ntotal {r['total_s']} s"
  print(text)
  if args.out:
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({**r, 'table': text}, indent=2, default=str) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
