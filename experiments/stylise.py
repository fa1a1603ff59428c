"""Applies a trained feed-forward model to a file, a folder of images, or samples textures.

    # Johnson network: one file, or every image of a folder (outputs keep the file names)
    python -m experiments.stylise --model runs/starry --input photo.jpg --output out.png
    python -m experiments.stylise --model runs/starry/model.jaxstyle --input photos/ --output out/
    # AdaIN: content + one or more styles, blend weights, trade-off, colour preservation
    python -m experiments.stylise --model runs/adain --input photo.jpg --style a.jpg,b.jpg \
        --style-weights 0.7,0.3 --alpha 0.8 --preserve-colors --output out.png
    # texture network: N samples of any size
    python -m experiments.stylise --model runs/texture --num-samples 4 --size 512 --output tex/

--max-side resizes inputs whose longer side exceeds it. In a folder, unreadable images are
skipped with a warning and counted (--on-bad-image stop to stop instead); nothing is
written for them. Every output is written atomically. A user error prints one line
starting with 'error:' and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from jaxstyle import data, images
from jaxstyle.errors import ConfigError, ImageError, JaxstyleError
from jaxstyle.feedforward import apply


def _parser():
  p = argparse.ArgumentParser(prog='python -m experiments.stylise', description=__doc__.split('\n')[0])
  p.add_argument('--model', required=True, help='model.jaxstyle file, run directory, or a '
                 'pytorch/examples fast_neural_style .pth model')
  p.add_argument('--input', default='', help='content image file or folder (not for textures)')
  p.add_argument('--output', required=True, help='output file (one input) or folder')
  p.add_argument('--style', default='', help='AdaIN: comma-separated style images')
  p.add_argument('--style-weights', default='', help='AdaIN: comma-separated blend weights')
  p.add_argument('--alpha', type=float, default=1.0, help='AdaIN: content/style trade-off')
  p.add_argument('--preserve-colors', action='store_true',
                 help="keep the content's colours (Johnson: luminance transfer; AdaIN: "
                      'colour-matched styles)')
  p.add_argument('--max-side', type=int, default=0, help='resize inputs to at most this side')
  p.add_argument('--num-samples', type=int, default=4, help='textures: how many')
  p.add_argument('--size', default='512', help='textures: SIDE or HxW')
  p.add_argument('--seed', type=int, default=0, help='textures: noise seed')
  p.add_argument('--bucket', type=int, default=64, help='pad sizes up to multiples of this')
  p.add_argument('--batch', type=int, default=8, help='largest batch per call')
  p.add_argument('--on-bad-image', choices=('skip', 'stop'), default='skip')
  return p


def _load(path: Path, max_side: int) -> np.ndarray:
  img = images.load(str(path), 'input')
  if max_side and max(img.shape[:2]) > max_side:
    img = np.asarray(images.resize(img, images.size_for(img.shape[:2], max_side)))
  return img


def _inputs(spec: str, output: Path):
  """[(input path, output path)] for a file or a folder."""
  src = Path(spec)
  if not spec:
    raise ConfigError('--input is required for this model (a content image or folder)')
  if src.is_dir():
    paths = sorted(p for p in src.rglob('*') if p.suffix.lower() in data.IMAGE_SUFFIXES)
    if not paths:
      raise ImageError(f'input folder {src} holds no images ({", ".join(data.IMAGE_SUFFIXES)})')
    if output.suffix.lower() in data.IMAGE_SUFFIXES:
      raise ConfigError(f'--output {output} looks like a file, but --input is a folder; '
                        f'give an output folder')
    return [(p, output / p.relative_to(src).with_suffix('.png')) for p in paths]
  if not src.exists():
    raise ImageError(f'--input {src}: no such file or folder')
  out = output if output.suffix else output / (src.stem + '.png')
  return [(src, out)]


def _size(spec: str) -> tuple[int, int]:
  try:
    parts = [int(v) for v in spec.lower().split('x')]
    h, w = (parts[0], parts[0]) if len(parts) == 1 else parts
  except ValueError:
    raise ConfigError(f'--size must be SIDE or HxW, got {spec!r}') from None
  return h, w


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    return _run(args)
  except JaxstyleError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


def _run(args) -> int:
  start = time.time()
  model = apply.read_model(args.model)  # format, version and checksum checked before any work
  output = Path(args.output)
  kind = model.kind
  if kind == 'texture':
    size = _size(args.size)
    sampler = apply.load_model(model, args.bucket, args.batch)
    x = sampler.sample(args.num_samples, size, args.seed)
    for i, img in enumerate(x):
      images.save(output / f'sample_{i:03d}.png', img)
    print(f'wrote {len(x)} textures of {size[0]}x{size[1]} to {output} '
          f'({time.time() - start:.1f} s)')
    return 0

  pairs = _inputs(args.input, output)
  styles = []
  if kind == 'adain':
    specs = [s for s in args.style.split(',') if s.strip()]
    if not specs:
      raise ConfigError('an AdaIN model needs --style IMAGE[,IMAGE...]')
    styles = [_load(Path(s.strip()), args.max_side) for s in specs]
    weights = [float(v) for v in args.style_weights.split(',')] if args.style_weights else None
  elif args.style:
    raise ConfigError(f'--style is for AdaIN models; {args.model} is a {kind!r} model '
                      f'trained for one style')
  stylist = apply.load_model(model, args.bucket, args.batch)
  done, skipped = 0, []
  for start_i in range(0, len(pairs), args.batch):  # Johnson: same-bucket images share a batch
    chunk = []
    for src, dst in pairs[start_i:start_i + args.batch]:
      try:
        chunk.append((_load(src, args.max_side), dst))
      except ImageError as e:
        if args.on_bad_image == 'stop' or len(pairs) == 1:
          raise
        skipped.append(str(e))
    if kind == 'adain':
      outs = [stylist(c, styles, weights, args.alpha, args.preserve_colors) for c, _ in chunk]
    else:
      outs = stylist([c for c, _ in chunk], args.preserve_colors) if chunk else []
    for (_, dst), out in zip(chunk, outs):
      images.save(dst, out)
      done += 1
  if skipped:
    print(f'warning: skipped {len(skipped)} unreadable image(s); first: {skipped[0]}',
          file=sys.stderr)
  print(f'wrote {done} image(s) to {output} ({time.time() - start:.1f} s)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
