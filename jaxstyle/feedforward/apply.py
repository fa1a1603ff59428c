"""Using a trained feed-forward model on images of any size.

The networks are fully convolutional, but XLA compiles one program per input shape.
Inputs are therefore reflection-padded up to a size bucket (both sides rounded up to a
multiple of ``bucket`` pixels, 64 by default) and batches up to a power of two, and the
output is cropped back: images of 500x333 and 510x340 px share one compiled program,
and a folder of photos compiles a handful of programs rather than one per photo.

  stylist = load('runs/starry/model.jaxstyle')
  out = stylist(content_HWC)                    # Johnson: one image or a list
  out = stylist(content_HWC, [style_HWC], alpha=0.8)   # AdaIN
  textures = stylist.sample(4, (512, 512), seed=0)     # texture network
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.data import IMAGE_SUFFIXES
from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.feedforward import convert, modelfile, nets
from jaxstyle.feedforward.train import Encoder, frozen_variables
from jaxstyle.io import images
from jaxstyle.kernels import select
from jaxstyle.perceptual import color
from jaxstyle.runtime.config import split_list, split_numbers


def build_net(kind: str, net: dict, axis_name: str | None = None, inference: bool = False,
              conv_impl: str = 'auto', dtype=jnp.float32):
  """The Flax module of a model kind from its constructor arguments. ``inference``: the
  convolutions ``conv_impl`` names ('auto': the backend's, ``kernels.select``), which are
  not meant to be differentiated; training always uses XLA's. ``dtype``: the activations'
  dtype (bfloat16 for mixed-precision training)."""
  impl = conv_impl if inference else 'xla'
  if kind == 'johnson':
    return nets.TransformNet(widths=tuple(net['widths']), num_residual=int(net['num_residual']),
                             output=net['output'], pixel_scale=float(net.get('pixel_scale', 1)),
                             conv_impl=impl, dtype=dtype)
  if kind == 'texture':
    return nets.TextureNet(num_scales=int(net['num_scales']),
                           channels_per_scale=int(net['channels_per_scale']),
                           noise_channels=int(net['noise_channels']), norm=net['norm'],
                           axis_name=axis_name, dtype=dtype)
  if kind == 'adain':
    return nets.AdaINDecoder(widths=tuple(net['widths']), conv_impl=impl, dtype=dtype)
  raise ConfigError(f"unknown model kind {kind!r}: use 'johnson', 'texture' or 'adain'")


def padded_side(side: int, bucket: int, multiple: int) -> int:
  """``side`` (px) rounded up to the size bucket: a multiple of ``bucket`` itself
  rounded up to a multiple of ``multiple`` (what the network's strides need, 4 for
  ``TransformNet``); e.g. 500 -> 512 with bucket 64.
  """
  step = max(bucket, multiple)
  step = -(-step // multiple) * multiple
  return -(-side // step) * step


def _batch_bucket(n: int, max_batch: int) -> int:
  b = 1
  while b < n and b < max_batch:
    b *= 2
  return b


def pad_to(x_BHWC: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
  """Reflection padding at the bottom and right up to ``size_hw`` (any width)."""
  h, w = x_BHWC.shape[1:3]
  return np.pad(np.asarray(x_BHWC), ((0, 0), (0, size_hw[0] - h), (0, size_hw[1] - w), (0, 0)),
                mode='reflect')


def _check_image(img, what: str) -> np.ndarray:
  img = np.asarray(img, np.float32)
  if img.ndim != 3 or img.shape[-1] != 3:
    raise ImageError(f'{what} must be an RGB array (H, W, 3), got shape {img.shape}')
  if not np.all(np.isfinite(img)):
    raise ImageError(f'{what} has non-finite pixels')
  return img


class _Base:
  multiple = 1

  def __init__(self, model: modelfile.SavedModel, bucket: int = 64, max_batch: int = 8):
    if bucket < 1 or max_batch < 1:
      raise ConfigError('bucket and max_batch must be >= 1')
    self.model, self.bucket, self.max_batch = model, bucket, max_batch
    self.kind = model.kind
    # The model's own config may force a formulation (model.conv_impl); 'auto' resolves
    # on the backend that applies it, not the one that trained it.
    impl = (model.meta.get('config') or {}).get('model', {}).get('conv_impl', 'auto')
    self.conv_impl = select.feedforward_conv(impl)
    self.net = build_net(model.kind, model.net, inference=True, conv_impl=self.conv_impl)
    self.variables = jax.tree.map(jnp.asarray, {'params': model.variables['params'],
                                                **model.variables.get('model_state', {})})

  def padded_size(self, h: int, w: int) -> tuple[int, int]:
    return padded_side(h, self.bucket, self.multiple), padded_side(w, self.bucket, self.multiple)


class TransformStylist(_Base):
  """Johnson et al.'s network: content image(s) -> stylised image(s)."""
  multiple = 4

  def __init__(self, model, bucket: int = 64, max_batch: int = 8):
    super().__init__(model, bucket, max_batch)
    self._apply = jax.jit(self.net.apply)

  def __call__(self, content, preserve_colors: bool = False):
    """One RGB [0, 1] image (H, W, 3) -> one image; a list -> a list (any sizes)."""
    single = not isinstance(content, (list, tuple))
    imgs = [_check_image(c, 'content image') for c in ([content] if single else content)]
    out: list = [None] * len(imgs)
    groups: dict = {}
    for i, img in enumerate(imgs):
      groups.setdefault(self.padded_size(*img.shape[:2]), []).append(i)
    for size, idx in groups.items():
      for start in range(0, len(idx), self.max_batch):
        chunk = idx[start:start + self.max_batch]
        b = _batch_bucket(len(chunk), self.max_batch)
        x = np.zeros((b, *size, 3), np.float32)
        for j, i in enumerate(chunk):
          x[j] = pad_to(imgs[i][None], size)[0]
        y = np.asarray(self._apply(self.variables, x))
        for j, i in enumerate(chunk):
          h, w = imgs[i].shape[:2]
          res = np.clip(y[j, :h, :w], 0.0, 1.0)
          if preserve_colors:
            res = np.asarray(color.restore_colors(res, imgs[i]))
          out[i] = res
    return out[0] if single else out


class TextureSampler(_Base):
  """Ulyanov et al.'s texture network: noise -> textures of any size."""

  def __init__(self, model, bucket: int = 64, max_batch: int = 8):
    super().__init__(model, bucket, max_batch)
    self.multiple = 2 ** (self.net.num_scales - 1)
    self._apply = jax.jit(lambda v, z: self.net.apply(v, z, train=False))

  def sample(self, n: int, size_hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``n`` textures of ``size_hw``; sample i depends only on (seed, i, size)."""
    if n < 1 or min(size_hw) < 1:
      raise ConfigError(f'need n >= 1 and a positive size, got {n}, {size_hw}')
    size = self.padded_size(*size_hw)
    out = []
    for i in range(n):
      key = jax.random.fold_in(jax.random.key(seed), i)
      z = nets.texture_noise(key, 1, size, self.net.num_scales, self.net.noise_channels)
      out.append(np.asarray(self._apply(self.variables, z))[0, :size_hw[0], :size_hw[1]])
    return np.clip(np.stack(out), 0.0, 1.0)


class AdaINStylist(_Base):
  """Arbitrary style transfer: content + style image(s) -> stylised image."""
  multiple = 8

  def __init__(self, model, bucket: int = 64, max_batch: int = 8):
    super().__init__(model, bucket, max_batch)
    enc = model.meta['encoder']
    self.encoder = Encoder(enc['arch'], tuple(enc['mean_bgr']), enc.get('pooling', 'max'))
    params = jax.tree.map(jnp.asarray, model.variables['encoder'])
    self.enc_vars = frozen_variables(params, enc['arch'])
    layer = 'relu4_1'

    def features(enc_vars, x, hw):
      f = self.encoder(enc_vars, x, (layer,))[layer]
      return f[:, :hw[0], :hw[1]]  # the positions of the unpadded image

    self._features = jax.jit(features, static_argnums=2)

    def decode(params, fc, style_feats, weights, alpha):
      t = sum(w * nets.adain(fc, fs) for w, fs in zip(weights, style_feats))
      t = alpha * t + (1.0 - alpha) * fc
      return self.net.apply({'params': params}, t)

    self._decode = jax.jit(decode)

  def _encode_style(self, img):
    """Encoder features of a style image; statistics over its unpadded part only."""
    h, w = img.shape[:2]
    valid = (-(-h // 8), -(-w // 8))
    return self._features(self.enc_vars, pad_to(img[None], self.padded_size(h, w)), valid)

  def __call__(self, content, styles: Sequence, weights: Sequence[float] | None = None,
               alpha: float = 1.0, preserve_colors: bool = False) -> np.ndarray:
    """Content (H, W, 3) with the blend of ``styles`` (weights default equal)."""
    content = _check_image(content, 'content image')
    styles = [_check_image(s, 'style image') for s in styles]
    if not styles:
      raise ConfigError('AdaIN needs at least one style image')
    weights = list(weights) if weights else [1.0] * len(styles)
    if len(weights) != len(styles) or min(weights) < 0 or sum(weights) <= 0:
      raise ConfigError(f'style weights must be {len(styles)} numbers >= 0 with a positive '
                        f'sum, got {weights}')
    if not 0.0 <= alpha <= 1.0:
      raise ConfigError(f'alpha must be in [0, 1], got {alpha}')
    total = float(sum(weights))
    if preserve_colors:  # AdaIN's -preserveColor: style colours matched to the content's
      styles = [np.asarray(color.match_color(s, content)) for s in styles]
    h, w = content.shape[:2]
    size = self.padded_size(h, w)
    fc = self._features(self.enc_vars, pad_to(content[None], size), (size[0] // 8, size[1] // 8))
    style_feats = tuple(self._encode_style(s) for s in styles)
    y = self._decode(self.variables['params'], fc, style_feats,
                     tuple(w_ / total for w_ in weights), float(alpha))
    return np.clip(np.asarray(y)[0, :h, :w], 0.0, 1.0)


def load_model(model: modelfile.SavedModel, bucket: int = 64, max_batch: int = 8):
  """The stylist (or texture sampler) of a loaded ``SavedModel``."""
  cls = {'johnson': TransformStylist, 'texture': TextureSampler, 'adain': AdaINStylist}
  return cls[model.kind](model, bucket=bucket, max_batch=max_batch)


TORCH_SUFFIXES = ('.pth', '.pt', '.model')


def read_model(path: str | Path, kind: str | None = None) -> modelfile.SavedModel:
  """A ``.jaxstyle`` file, a run directory, or a pytorch/examples ``.pth`` model."""
  if Path(path).suffix.lower() in TORCH_SUFFIXES:
    model = convert.from_pytorch_examples(path)
    if kind and model.kind != kind:
      raise modelfile.ModelFileError(f'{path} is a {model.kind!r} model, but this needs '
                                     f'{kind!r}')
    return model
  return modelfile.load(path, kind)


def load(path: str | Path, kind: str | None = None, bucket: int = 64, max_batch: int = 8):
  """The stylist (or texture sampler) for a model file or run directory."""
  return load_model(read_model(path, kind), bucket, max_batch)


# --------------------------------------------------------------------------- files and folders

@dataclasses.dataclass
class StyliseReport:
  """What ``stylise_paths`` wrote: output paths, skipped inputs (their errors), seconds."""
  written: list
  skipped: list
  seconds: float
  what: str = 'image(s)'
  where: str = ''

  def summary(self) -> str:
    """One line for the user: 'wrote <count> <what> to <where> (<seconds> s)'."""
    return f'wrote {len(self.written)} {self.what} to {self.where} ({self.seconds:.1f} s)'


def _load_input(path: Path, max_side: int) -> np.ndarray:
  img = images.load(str(path), 'input')
  if max_side and max(img.shape[:2]) > max_side:
    img = np.asarray(images.resize(img, images.size_for(img.shape[:2], max_side)))
  return img


def _input_pairs(spec: str, output: Path) -> list[tuple[Path, Path]]:
  """[(input path, output path)] for a file or a folder (searched recursively)."""
  src = Path(spec)
  if not spec:
    raise ConfigError('--input is required for this model (a content image or folder)')
  if src.is_dir():
    paths = sorted(p for p in src.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
      raise ImageError(f'input folder {src} holds no images ({", ".join(IMAGE_SUFFIXES)})')
    if output.suffix.lower() in IMAGE_SUFFIXES:
      raise ConfigError(f'--output {output} looks like a file, but --input is a folder; '
                        f'give an output folder')
    return [(p, output / p.relative_to(src).with_suffix('.png')) for p in paths]
  if not src.exists():
    raise ImageError(f'--input {src}: no such file or folder')
  out = output if output.suffix else output / (src.stem + '.png')
  return [(src, out)]


def _texture_size(spec: str) -> tuple[int, int]:
  try:
    parts = [int(v) for v in str(spec).lower().split('x')]
    h, w = (parts[0], parts[0]) if len(parts) == 1 else parts
  except ValueError:
    raise ConfigError(f'--size must be SIDE or HxW, got {spec!r}') from None
  return h, w


def stylise_paths(model_spec: str, input_spec: str, output: str | Path, *, style: str = '',
                  style_weights: str = '', alpha: float = 1.0, preserve_colors: bool = False,
                  max_side: int = 0, num_samples: int = 4, size: str = '512', seed: int = 0,
                  bucket: int = 64, batch: int = 8, on_bad_image: str = 'skip') -> StyliseReport:
  """Applies a model to an image file or every image of a folder (outputs keep the file
  names, as PNG), or samples ``num_samples`` textures of ``size`` from a texture network.

  In a folder an unreadable image is skipped and reported (``on_bad_image='skip'``) or
  stops the run (``'stop'``); a single unreadable input always raises ImageError.
  """
  start = time.time()
  model = read_model(model_spec)  # format, version and checksum checked before any work
  output = Path(output)
  if model.kind == 'texture':
    sampler = load_model(model, bucket, batch)
    hw = _texture_size(size)
    written = [images.save(output / f'sample_{i:03d}.png', img)
               for i, img in enumerate(sampler.sample(num_samples, hw, seed))]
    return StyliseReport(written, [], time.time() - start,
                         f'textures of {hw[0]}x{hw[1]}', str(output))
  pairs = _input_pairs(input_spec, output)
  styles, weights = [], None
  if model.kind == 'adain':
    specs = split_list(style)
    if not specs:
      raise ConfigError('an AdaIN model needs --style IMAGE[,IMAGE...]')
    styles = [_load_input(Path(s), max_side) for s in specs]
    weights = list(split_numbers(style_weights, '--style-weights')) if style_weights else None
  elif style:
    raise ConfigError(f'--style is for AdaIN models; {model_spec} is a {model.kind!r} model '
                      f'trained for one style')
  stylist = load_model(model, bucket, batch)
  written, skipped = [], []
  for first in range(0, len(pairs), batch):  # Johnson: same-bucket images share a batch
    chunk = []
    for src, dst in pairs[first:first + batch]:
      try:
        chunk.append((_load_input(src, max_side), dst))
      except ImageError as e:
        if on_bad_image == 'stop' or len(pairs) == 1:
          raise
        skipped.append(str(e))
    if model.kind == 'adain':
      outs = [stylist(c, styles, weights, alpha, preserve_colors) for c, _ in chunk]
    else:
      outs = stylist([c for c, _ in chunk], preserve_colors) if chunk else []
    written += [images.save(dst, out) for (_, dst), out in zip(chunk, outs)]
  return StyliseReport(written, skipped, time.time() - start, 'image(s)', str(output))
