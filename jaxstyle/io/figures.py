"""Figures as float RGB arrays in [0, 1]: the image grid every figure uses, 2D scatter plots."""

from __future__ import annotations

import numpy as np


def grid(rows, pad: int = 4, fill: float = 1.0) -> np.ndarray:
  """The one image tiler: rows of equally sized (H, W, 3) images in [0, 1] -> one image.

  Rows may be of different lengths (the missing places stay ``fill``); every tile sits at
  ``(pad + i (H + pad), pad + j (W + pad))``.
  """
  h, w, _ = np.shape(rows[0][0])
  n_cols = max(len(r) for r in rows)
  sheet = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, 3), fill, np.float32)
  for i, row in enumerate(rows):
    for j, img in enumerate(row):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      sheet[y:y + h, x:x + w] = np.asarray(img, np.float32)[:h, :w]
  return sheet


def image_grid(x_NHWC, value_range=(-1.0, 1.0), columns: int | None = None,
               pad: int = 2) -> np.ndarray:
  """N images in ``value_range`` -> one (H, W, 3) grid, ``columns`` wide (default: as
  square as possible); grayscale images become gray RGB."""
  x = np.asarray(x_NHWC, np.float32)
  lo, hi = value_range
  x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, -1)
  columns = columns or int(np.ceil(np.sqrt(len(x))))
  return grid([list(x[i:i + columns]) for i in range(0, len(x), columns)], pad)


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
