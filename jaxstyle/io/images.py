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

from jaxstyle.errors import ImageError, OutputError
from jaxstyle.io import download, fileio

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
  """A PIL image -> float32 RGB [0, 1] (H, W, 3), converting as the module docstring
  lists (grayscale replicated, 16-bit scaled, alpha composited on white). Raises ImageError
  (naming ``what``) for float images, out-of-range 32-bit ones and unconvertible modes.
  """
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
  """Float RGB in [0, 1] -> uint8 0..255 (rounded, values outside [0, 1] clipped)."""
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
