"""Sample figures: image grids and 2D scatter plots, as float RGB arrays in [0, 1]."""

from __future__ import annotations

import numpy as np


def image_grid(x_NHWC, value_range=(-1.0, 1.0), columns: int | None = None,
               pad: int = 2) -> np.ndarray:
  """N images -> one (H, W, 3) grid, ``columns`` wide (default: as square as possible)."""
  x = np.asarray(x_NHWC, np.float32)
  lo, hi = value_range
  x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, -1)
  n, h, w, _ = x.shape
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  grid = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), np.float32)
  for i in range(n):
    r, c = divmod(i, columns)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = x[i]
  return grid


def scatter(points, centers=None, extent: float | None = None, size: int = 256) -> np.ndarray:
  """2D points as dark pixels on white, mixture centres as red crosses."""
  points = np.asarray(points, np.float64)
  if extent is None:
    ref = points if centers is None else np.asarray(centers)
    extent = 1.25 * float(np.max(np.abs(ref))) + 0.25
  img = np.ones((size, size, 3), np.float32)

  def to_px(p):
    xy = (np.asarray(p) / extent * 0.5 + 0.5) * (size - 1)
    return np.round(xy[:, 0]).astype(int), np.round((size - 1) - xy[:, 1]).astype(int)

  cols, rows = to_px(points)
  ok = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
  img[rows[ok], cols[ok]] = (0.1, 0.2, 0.6)
  if centers is not None:
    cols, rows = to_px(centers)
    for dx in range(-3, 4):
      for r, c in ((rows, cols + dx), (rows + dx, cols)):
        ok = (c >= 0) & (c < size) & (r >= 0) & (r < size)
        img[r[ok], c[ok]] = (0.9, 0.1, 0.1)
  return img
