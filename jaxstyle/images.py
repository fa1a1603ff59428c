"""Reading, converting, resizing and writing images.

Images inside jaxstyle are float32 RGB arrays in [0, 1], shape (H, W, 3).
Conversions on load (documented in the README):
  * grayscale (L, I;16, I) -> replicated to RGB; 16-bit values are scaled by 1/65535;
  * RGBA / LA / palette with transparency -> composited over white;
  * palette, CMYK, YCbCr, 1-bit -> converted to RGB;
  * float images (mode F) and anything else -> refused with an ImageError.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxstyle import download, fileio
from jaxstyle.errors import ImageError, OutputError

_NS = 'https://raw.githubusercontent.com/jcjohnson/neural-style/master/examples/inputs/'
# The Gatys et al. (2016) Figure 2 inputs, byte-identical to jcjohnson/neural-style.
NAMED_IMAGES = {
    'tubingen': download.RemoteFile(
        'tubingen.jpg', _NS + 'tubingen.jpg',
        'sha256:e67d1869f01fd805385c681a80d9ebcf0f70ea4a5fe6127f0606bb1c7f4bf506'),
    'starry_night': download.RemoteFile(
        'starry_night.jpg', _NS + 'starry_night.jpg',
        'sha256:0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098'),
    'shipwreck': download.RemoteFile(
        'shipwreck.jpg', _NS + 'shipwreck.jpg',
        'sha256:4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213'),
}


def resolve(spec: str, config_key: str = 'image') -> Path:
  """An existing path, or the name of a known image fetched once into the cache."""
  path = Path(os.path.expanduser(spec))
  if path.exists():
    return path
  if spec in NAMED_IMAGES:
    hint = (f'Pass a local copy instead: --config.{config_key}=/path/to/'
            f'{NAMED_IMAGES[spec].filename}')
    return download.fetch(NAMED_IMAGES[spec], cache=download.cache_dir() / 'images', hint=hint)
  raise ImageError(f'{config_key}: no such file {spec!r} (and not one of the named images '
                   f'{", ".join(NAMED_IMAGES)}); check the path')


def load(spec: str, config_key: str = 'image') -> np.ndarray:
  """Reads an image file (or named image) as float32 RGB in [0, 1], shape (H, W, 3)."""
  path = resolve(spec, config_key)
  if path.is_dir():
    raise ImageError(f'{config_key}: {path} is a directory, not an image file')
  try:
    with Image.open(path) as img:
      img.load()
      return to_rgb(img, f'{config_key} {path}')
  except UnidentifiedImageError:
    raise ImageError(f'{config_key}: {path} is not an image PIL can read '
                     f'(use a PNG or JPEG file)') from None
  except (OSError, SyntaxError, ValueError) as e:
    raise ImageError(f'{config_key}: {path} is corrupt or truncated ({e}); '
                     f're-export or re-download it') from None


def to_rgb(img: Image.Image, what: str = 'image') -> np.ndarray:
  mode = img.mode
  if mode in ('I;16', 'I;16B', 'I;16L', 'I;16N'):
    arr = np.asarray(img, dtype=np.uint16).astype(np.float32) / 65535.0
    return np.repeat(arr[..., None], 3, axis=-1)
  if mode == 'I':
    arr = np.asarray(img, dtype=np.int64)
    if arr.min() < 0 or arr.max() > 65535:
      raise ImageError(f'{what}: 32-bit integer pixels outside 0..65535 are not '
                       f'supported; save it as 8- or 16-bit')
    return np.repeat((arr.astype(np.float32) / 65535.0)[..., None], 3, axis=-1)
  if mode == 'F':
    raise ImageError(f'{what}: floating-point images (mode F) are not supported; '
                     f'save it as an 8- or 16-bit PNG')
  if mode == 'P':
    img = img.convert('RGBA' if 'transparency' in img.info else 'RGB')
  if img.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La'):
    rgba = img.convert('RGBA')
    white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
    img = Image.alpha_composite(white, rgba)
  if img.mode != 'RGB':
    try:
      img = img.convert('RGB')
    except (ValueError, OSError):
      raise ImageError(f'{what}: image mode {mode} cannot be converted to RGB') from None
  return np.asarray(img, dtype=np.float32) / 255.0


def size_for(shape_hw: tuple[int, int], max_side: int) -> tuple[int, int]:
  """(H, W) scaled so that the longer side equals ``max_side``."""
  h, w = shape_hw
  scale = max_side / max(h, w)
  return max(1, round(h * scale)), max(1, round(w * scale))


def resize(img_HWC: np.ndarray | jax.Array, size_hw: tuple[int, int]) -> jax.Array:
  """Antialiased bicubic resize, clipped to [0, 1]."""
  img = jnp.asarray(img_HWC, jnp.float32)
  if tuple(img.shape[:2]) == tuple(size_hw):
    return img
  out = jax.image.resize(img, (*size_hw, img.shape[-1]), 'bicubic', antialias=True)
  return jnp.clip(out, 0.0, 1.0)


def to_uint8(img_HWC) -> np.ndarray:
  return np.asarray(np.clip(np.round(np.asarray(img_HWC, np.float32) * 255.0), 0, 255), np.uint8)


def save(path: str | Path, img_HWC) -> Path:
  """Writes a PNG atomically: a reader never sees a half-written file."""
  path = Path(path)
  pixels = Image.fromarray(to_uint8(img_HWC))
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    return fileio.atomic_write(path, lambda f: pixels.save(f, format='PNG'))
  except OSError as e:
    raise OutputError(f'cannot write {path}: {e.strerror}; free space or choose '
                      f'another --workdir') from None


# ITU-R BT.601 YIQ, the colour space of Gatys et al. (2017) luminance-only transfer.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def rgb_to_yiq(img_HWC):
  return jnp.asarray(img_HWC) @ _RGB_TO_YIQ.T


def yiq_to_rgb(img_HWC):
  return jnp.asarray(img_HWC) @ _YIQ_TO_RGB.T


def luminance(img_HWC) -> jax.Array:
  return rgb_to_yiq(img_HWC)[..., 0]


def gray_rgb(y_HW) -> jax.Array:
  return jnp.repeat(jnp.asarray(y_HW)[..., None], 3, axis=-1)


def match_luminance(style_HWC, content_HWC) -> jax.Array:
  """Style luminance as gray RGB, its mean and std matched to the content's (Gatys 2017)."""
  ys, yc = luminance(style_HWC), luminance(content_HWC)
  y = (ys - ys.mean()) / (ys.std() + 1e-8) * yc.std() + yc.mean()
  return gray_rgb(y)


def restore_colors(stylized_HWC, content_HWC) -> jax.Array:
  """Luminance of ``stylized`` with the chrominance (I, Q) of ``content``."""
  yiq = rgb_to_yiq(content_HWC).at[..., 0].set(luminance(stylized_HWC))
  return jnp.clip(yiq_to_rgb(yiq), 0.0, 1.0)


def _sym_sqrt(cov, inverse=False):
  vals, vecs = jnp.linalg.eigh(cov)
  vals = jnp.maximum(vals, 1e-8)
  power = -0.5 if inverse else 0.5
  return (vecs * vals ** power) @ vecs.T


def match_color(style_HWC, content_HWC) -> jax.Array:
  """Linear colour transfer: the style's RGB mean and covariance made the content's.

  ``x' = Cc^1/2 Cs^-1/2 (x - mu_s) + mu_c`` with symmetric matrix square roots, the
  'image analogies' variant of Gatys et al. (2017), Sec. 5.
  """
  s = jnp.asarray(style_HWC).reshape(-1, 3)
  c = jnp.asarray(content_HWC).reshape(-1, 3)
  mu_s, mu_c = s.mean(0), c.mean(0)
  cov_s = jnp.cov(s, rowvar=False) + 1e-5 * jnp.eye(3)
  cov_c = jnp.cov(c, rowvar=False) + 1e-5 * jnp.eye(3)
  a = _sym_sqrt(cov_c) @ _sym_sqrt(cov_s, inverse=True)
  out = (s - mu_s) @ a.T + mu_c
  return jnp.clip(out.reshape(jnp.shape(style_HWC)), 0.0, 1.0)


def contact_sheet(rows: list[list[np.ndarray]], pad: int = 4) -> np.ndarray:
  """Tiles equally sized images into a grid with white padding."""
  h, w, _ = np.shape(rows[0][0])
  n_cols = max(len(r) for r in rows)
  sheet = np.ones((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, 3), np.float32)
  for i, row in enumerate(rows):
    for j, img in enumerate(row):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      sheet[y:y + h, x:x + w] = np.asarray(img)[:h, :w]
  return sheet
