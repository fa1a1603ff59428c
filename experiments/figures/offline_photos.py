"""A small offline photo set for CPU runs: the photographs bundled in scikit-image's wheel.

    pip download --no-deps scikit-image==0.26.0 -d /tmp/wheels
    python -m experiments.figures.offline_photos --wheel /tmp/wheels/scikit_image-*.whl \
        --out data/photos

writes data/photos/train/ (content images for training) and data/photos/heldout/
(never used in training; the results stylise these and ../shared's tubingen.jpg).
Only the files are read from the wheel; scikit-image is not installed or imported.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

from PIL import Image

TRAIN = ('astronaut.png', 'camera.png', 'hubble_deep_field.jpg', 'motorcycle_left.png',
         'motorcycle_right.png', 'rocket.jpg')
HELDOUT = ('chelsea.png', 'coffee.png')


def extract(wheel: str | Path, out: str | Path) -> dict:
  out = Path(out)
  written = {'train': [], 'heldout': []}
  with zipfile.ZipFile(wheel) as z:
    for split, names in (('train', TRAIN), ('heldout', HELDOUT)):
      (out / split).mkdir(parents=True, exist_ok=True)
      for name in names:
        img = Image.open(io.BytesIO(z.read(f'skimage/data/{name}'))).convert('RGB')
        dst = out / split / (Path(name).stem + '.png')
        img.save(dst)
        written[split].append(str(dst))
  return written


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--wheel', required=True)
  p.add_argument('--out', required=True)
  a = p.parse_args()
  for split, files in extract(a.wheel, a.out).items():
    print(f'{split}: {len(files)} images in {Path(a.out) / split}')


if __name__ == '__main__':
  main()
