"""Regenerates the sky / town masks of the Tübingen photograph for spatial control.

    python -m experiments.figures.tubingen_masks --image ../shared/data/images/tubingen.jpg \
        --out results/gatys2017/masks

Sky = the blue, bright pixels connected to the top edge (a flood fill on a 256-px copy,
then a 5-px median filter); town = everything else. Written as 8-bit grayscale PNGs
(white = inside) with the photograph's aspect ratio.
"""

from __future__ import annotations

import argparse
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from jaxstyle.io import images


def sky_mask(rgb_HWC: np.ndarray) -> np.ndarray:
  r, g, b = (rgb_HWC[..., i] for i in range(3))
  candidate = (b > 0.45) & (b > r + 0.12) & (b >= g)
  h, w = candidate.shape
  sky = np.zeros_like(candidate)
  queue = deque((0, x) for x in range(w) if candidate[0, x])
  for y, x in queue:
    sky[y, x] = True
  while queue:
    y, x = queue.popleft()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
      ny, nx = y + dy, x + dx
      if 0 <= ny < h and 0 <= nx < w and candidate[ny, nx] and not sky[ny, nx]:
        sky[ny, nx] = True
        queue.append((ny, nx))
  smooth = Image.fromarray(sky.astype(np.uint8) * 255).filter(ImageFilter.MedianFilter(5))
  return np.asarray(smooth) > 127


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--image', default='../shared/data/images/tubingen.jpg')
  parser.add_argument('--out', type=Path, default=Path('results/gatys2017/masks'))
  parser.add_argument('--size', type=int, default=256)
  args = parser.parse_args()
  rgb = images.load(args.image, '--image')
  small = np.asarray(images.resize(rgb, images.size_for(rgb.shape[:2], args.size)))
  sky = sky_mask(small)
  args.out.mkdir(parents=True, exist_ok=True)
  for name, mask in (('tubingen_sky', sky), ('tubingen_town', ~sky)):
    path = args.out / f'{name}.png'
    Image.fromarray(mask.astype(np.uint8) * 255, 'L').save(path)
    print(f'{path}: {mask.mean():.1%} of the image')


if __name__ == '__main__':
  main()
