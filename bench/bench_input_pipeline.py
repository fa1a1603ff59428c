"""Input pipeline throughput: a folder of JPEGs -> 256 px random crops, 1 vs N workers.

    flock /tmp/jaxstyle_bench.lock python bench/bench_input_pipeline.py \\
        --workers 1 2 --json bench/results/input_pipeline_2core_cpu.json

Writes ``--num-images`` COCO-like JPEGs (about 500x375, some portrait; smooth colour
fields plus noise, so they compress like photos) into a temporary folder, reads them once
so the page cache holds them, then times ``Loader.batch`` for consecutive steps with no
training in between: images/s of decode + resize of the shorter side to 256 + random
256 px crop + batching, the feed-forward networks' pipeline (``data.RandomCrops``).

  before    the pipeline before the worker pool: one prefetch thread, float32 batches
            made on the host (what the step used to receive)
  workers=N the worker pool with N threads, uint8 batches (normalised on the device)

Time to the first batch, for the same folder: before, every image decoded serially
before step 1 (the old ``verify_images=True``); after, images checked lazily (only the
first batch's are decoded); and ``verify_images='upfront'`` with the largest N (medians
of up to 3 runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

# Runnable from a checkout without installing jaxstyle.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jaxstyle import data  # noqa: E402


def write_jpegs(folder: Path, n: int, seed: int = 0) -> None:
  """``n`` photo-like JPEGs: a bicubically upsampled 8x6 colour field plus noise."""
  rng = np.random.default_rng(seed)
  for i in range(n):
    w, h = (500, 375) if i % 4 else (375, 500)  # a quarter portrait, as in COCO
    field = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
        (w, h), Image.BICUBIC)
    noisy = np.asarray(field, np.float32) + rng.normal(0, 10, (h, w, 3))
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
        folder / f'{i:05d}.jpg', quality=90)


class FloatCrops(data.RandomCrops):
  """The transform before the worker pool: random crops converted to float32 [0, 1] on
  the host (the old ``RandomCrops.__call__``)."""

  def __call__(self, images, positions):
    return super().__call__(images, positions).astype(np.float32) / 255.0


def images_per_second(folder: Path, workers: int, prefetch: int, transform, batch: int,
                      steps: int, repeats: int) -> dict:
  """Median images/s over ``repeats`` runs of ``steps`` consecutive batches (each run
  starts at a new step, on a fresh loader: nothing is prefetched before the clock starts)."""
  rates = []
  for r in range(repeats):
    loader = data.Loader(data.ImageFolder(folder), batch, 1, 0, transform,
                         prefetch=prefetch, workers=workers)
    start = time.perf_counter()
    for step in range(r * steps, (r + 1) * steps):
      x = loader.batch(step)
    rates.append(steps * batch / (time.perf_counter() - start))
    loader.close()
  return {'images_per_s': round(statistics.median(rates), 1),
          'runs': [round(v, 1) for v in rates], 'dtype': str(x.dtype),
          'batch_shape': list(x.shape)}


def time_to_first_batch(folder: Path, verify: str, workers: int, prefetch: int, transform,
                        batch: int, repeats: int) -> float:
  """Median seconds from opening the folder to holding batch 0."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    source = data.ImageFolder(folder)
    if verify == 'upfront':
      source.verify(workers=workers)
    loader = data.Loader(source, batch, 1, 0, transform, prefetch=prefetch, workers=workers)
    loader.batch(0)
    times.append(time.perf_counter() - start)
    loader.close()
  return round(statistics.median(times), 3)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--num-images', type=int, default=512)
  p.add_argument('--size', type=int, default=256, help='crop side (and shorter side)')
  p.add_argument('--batch', type=int, default=32)
  p.add_argument('--steps', type=int, default=8, help='batches per timed run')
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--workers', type=int, nargs='+', default=[1, 2])
  p.add_argument('--json', type=Path, default=None)
  args = p.parse_args(argv)

  load_before = os.getloadavg()
  with tempfile.TemporaryDirectory(prefix='jaxstyle-bench-jpegs-') as tmp:
    folder = Path(tmp)
    write_jpegs(folder, args.num_images)
    megabytes = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    for f in sorted(folder.iterdir()):  # warm the page cache: time decoding, not the disk
      f.read_bytes()
    uint8_crops = data.RandomCrops(args.size, args.size, seed=0)
    float_crops = FloatCrops(args.size, args.size, seed=0)
    common = dict(batch=args.batch, steps=args.steps, repeats=args.repeats)
    rows = {'before': images_per_second(folder, 1, 1, float_crops, **common)}
    for w in args.workers:
      rows[f'workers={w}'] = images_per_second(folder, w, 2, uint8_crops, **common)
    top = max(args.workers)
    first_repeats = min(args.repeats, 3)
    first = {
        'before (verify every image serially, then batch 0)':
            time_to_first_batch(folder, 'upfront', 1, 1, float_crops, args.batch, first_repeats),
        f'after, lazy checks, workers={top}':
            time_to_first_batch(folder, 'lazy', top, 2, uint8_crops, args.batch, first_repeats),
        f"after, verify_images='upfront', workers={top}":
            time_to_first_batch(folder, 'upfront', top, 2, uint8_crops, args.batch,
                                first_repeats),
    }
  base = rows['before']['images_per_s']
  for row in rows.values():
    row['vs_before'] = round(row['images_per_s'] / base, 2)

  print(f'{args.num_images} JPEGs (~500x375, {megabytes:.1f} MB), {args.size} px random crops, '
        f'batch {args.batch}; {os.cpu_count()} CPUs')
  print(f"{'pipeline':<12} {'images/s':>9} {'vs before':>10}  batch")
  for name, row in rows.items():
    print(f"{name:<12} {row['images_per_s']:>9.1f} {row['vs_before']:>9.2f}x  "
          f"{row['dtype']} {tuple(row['batch_shape'])}")
  print(f'time to first batch, folder of {args.num_images} images:')
  for name, seconds in first.items():
    print(f'  {name}: {seconds:.3f} s')

  if args.json:
    import jax
    import PIL
    result = {
        'what': 'images/s of Loader.batch on a folder of JPEGs: decode, shorter side to '
                f'{args.size}, random {args.size} px crop, batch of {args.batch}; no training '
                'step in between (input-bound)',
        'command': 'flock /tmp/jaxstyle_bench.lock python bench/bench_input_pipeline.py '
                   + ' '.join(sys.argv[1:]),
        'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                    'python': platform.python_version(), 'jax': jax.__version__,
                    'pillow': PIL.__version__,
                    'load_average_1_5_15_min': {'before': [round(v, 2) for v in load_before],
                                                'after': [round(v, 2) for v in os.getloadavg()]}},
        'note': 'shared machine: other engineers\' tests and benchmarks may have been running '
                'during this run (see the load averages); read the ratios',
        'images': {'count': args.num_images, 'size': '500x375 (a quarter 375x500)',
                   'megabytes': round(megabytes, 1), 'jpeg_quality': 90},
        'throughput': rows,
        'time_to_first_batch_s': first,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + '\n')
    print(f'wrote {args.json}')


if __name__ == '__main__':
  main()
