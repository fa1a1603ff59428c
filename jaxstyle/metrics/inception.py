"""Inception-v3 as the FID papers use it (the pytorch-fid port of TF's 2015-12-05 graph).

The network is pytorch-fid's ``FIDInceptionV3``: torchvision's Inception-v3 with the
blocks patched to match TensorFlow (average pools that ignore padding, a max pool in the
last block), BatchNorm eps 1e-3, 2048-d features after global average pooling.
Input: images in [0, 1], first quantised to 8 bits as pytorch-fid's inputs are (it reads
PNG/JPEG files: ``quantize_uint8``), resized to 299x299 with ``resize`` ('bilinear',
antialias off, which equals PyTorch's ``F.interpolate(bilinear, align_corners=False)``
used by pytorch-fid when upsampling), then scaled to [-1, 1].

Every convolution runs at ``lax.Precision.HIGHEST``: a TPU's default float32 convolution
is one bfloat16 pass (a GPU's may be TF32), which moves 2048-d features and so the FID
away from pytorch-fid's float32 numbers.

Weights: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` read without torch
(``jaxstyle.io.torch_pickle``), verified against the SHA-256 prefix in its name. Every FID
written by this module records the weights, the resize mode and both sample counts.

Logits (for the Inception Score): the file's ``fc`` layer (weight (1008, 2048), bias
(1008,)) is the TF graph's ``softmax/logits`` layer, applied to the same pool3 features at
HIGHEST precision. By default the bias is left out, as the Inception Score code of
Salimans et al. (openai/improved-gan) computes them, ``pool3 @ W`` with the weights of
``softmax/logits/MatMul`` only (torch-fidelity's and torchmetrics' ``logits_unbiased``);
``fc_bias=True`` gives the network's own logits. ``features_and_logits`` computes both in
one forward pass.
"""

from __future__ import annotations

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import ConfigError, WeightsError
from jaxstyle.io import download, torch_pickle

WEIGHTS = download.RemoteFile(
    filename='pt_inception-2015-12-05-6726825d.pth',
    url='https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
        'pt_inception-2015-12-05-6726825d.pth',
    # torch.hub names files <name>-<first 8 hex digits of their SHA-256>.
    checksum='sha256-prefix:6726825d')
NUM_LOGITS = 1008  # the 2015-12-05 graph's softmax width (ImageNet's 1000 classes, padded)
OFFLINE_HINT = ('Download it on a machine with network (URL above) and pass '
                '--config.eval.inception_weights=/path/to/pt_inception-2015-12-05-6726825d.pth')


class BasicConv(nn.Module):
  """Conv (no bias) + BatchNorm(eps 1e-3, inference statistics) + ReLU."""
  features: int
  kernel: tuple
  stride: int = 1
  padding: tuple = (0, 0)

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel, (self.stride, self.stride),
                padding=((ph, ph), (pw, pw)), use_bias=False,
                precision=jax.lax.Precision.HIGHEST, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_exclude_pad(x):
  """3x3 stride-1 average over the valid pixels only (count_include_pad=False)."""
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad)
  ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
  count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad)
  return total / count


def _max_pool(x, stride, pad=0):
  return nn.max_pool(x, (3, 3), (stride, stride), padding=((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
  """Mixed_5b/c/d: 35x35 map -> 35x35 with 224 + ``pool_features`` channels."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name='branch1x1')(x)
    b5 = BasicConv(48, (1, 1), name='branch5x5_1')(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_exclude_pad(x))
    return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
  """Mixed_6a: 35x35x288 -> 17x17x768 (stride-2 grid reduction)."""
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), stride=2, name='branch3x3')(x)
    bd = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, (3, 3), stride=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool(x, 2)], -1)


class InceptionC(nn.Module):
  """Mixed_6b..e: 17x17x768 -> 17x17x768 with factorised 7x7 branches of width ``c7``."""
  c7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.c7
    b1 = BasicConv(192, (1, 1), name='branch1x1')(x)
    b7 = BasicConv(c7, (1, 1), name='branch7x7_1')(x)
    b7 = BasicConv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv(c7, (1, 1), name='branch7x7dbl_1')(x)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, (1, 1), name='branch_pool')(_avg_pool_exclude_pad(x))
    return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
  """Mixed_7a: 17x17x768 -> 8x8x1280 (stride-2 grid reduction)."""
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name='branch3x3_1')(x)
    b3 = BasicConv(320, (3, 3), stride=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, (3, 3), stride=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool(x, 2)], -1)


class InceptionE(nn.Module):
  """Mixed_7b/c: 8x8 map -> 8x8x2048; ``pool`` picks the pooling branch as in TF's graph."""
  pool: str  # 'avg' (Mixed_7b) or 'max' (Mixed_7c), as in the TF graph

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name='branch1x1')(x)
    b3 = BasicConv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
                          BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], -1)
    bd = BasicConv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
                          BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], -1)
    pooled = _avg_pool_exclude_pad(x) if self.pool == 'avg' else _max_pool(x, 1, 1)
    bp = BasicConv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], -1)


class InceptionV3(nn.Module):
  """(B, H, W, 3) in [-1, 1] -> (B, 2048) pool3 features; with ``logits`` the pair
  (features, (B, 1008) logits of the ``fc`` classifier, its bias added if ``fc_bias``)."""
  logits: bool = False
  fc_bias: bool = False

  @nn.compact
  def __call__(self, x):
    x = BasicConv(32, (3, 3), stride=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool(x, 2)
    x = BasicConv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool(x, 2)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    x = InceptionC(128, name='Mixed_6b')(x)
    x = InceptionC(160, name='Mixed_6c')(x)
    x = InceptionC(160, name='Mixed_6d')(x)
    x = InceptionC(192, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE('avg', name='Mixed_7b')(x)
    x = InceptionE('max', name='Mixed_7c')(x)
    pool = x.mean(axis=(1, 2))
    if not self.logits:
      return pool
    fc = nn.Dense(NUM_LOGITS, use_bias=self.fc_bias, precision=jax.lax.Precision.HIGHEST,
                  name='fc')
    return pool, fc(pool)


RESIZE_MODES = ('bilinear',)


def quantize_uint8(images01) -> np.ndarray:
  """Images in [0, 1] -> uint8 0..255, rounded as an image file of them is written
  (torchvision's ``save_image``: ``x * 255 + 0.5`` clamped and truncated); uint8 input is
  returned as it is. pytorch-fid scores image files, so generated samples are quantised
  before their features, exactly as the real images (already 8-bit) are."""
  x = np.asarray(images01)
  if x.dtype == np.uint8:
    return x
  # In float32, as torchvision computes it, so that values at a rounding boundary agree.
  y = x.astype(np.float32) * np.float32(255.0) + np.float32(0.5)
  return np.clip(np.floor(y), 0, 255).astype(np.uint8)


def preprocess(images01, size: int = 299, resize: str = 'bilinear'):
  """[0, 1] images (B, H, W, 1 or 3), or uint8 0..255 ones, -> Inception input in [-1, 1]."""
  if resize not in RESIZE_MODES:
    raise ConfigError(f'eval.resize must be one of {RESIZE_MODES}, got {resize!r}')
  x = jnp.asarray(images01, jnp.float32)
  if np.asarray(images01).dtype == np.uint8:
    x = x / 255.0
  if x.shape[-1] == 1:  # grayscale datasets are tiled to RGB, as compare_gan does
    x = jnp.repeat(x, 3, -1)
  x = jax.image.resize(x, (x.shape[0], size, size, 3), 'bilinear', antialias=False)
  return 2.0 * x - 1.0


def variables_from_state_dict(sd: dict) -> dict:
  """pytorch-fid state dict -> Flax variables ({'params', 'batch_stats'})."""
  template = jax.eval_shape(lambda: InceptionV3().init(jax.random.key(0),
                                                       jnp.zeros((1, 299, 299, 3))))
  params, stats = {}, {}
  flat = jax.tree_util.tree_flatten_with_path(template['params'])[0]
  for path, leaf in flat:
    names = [p.key for p in path]
    prefix = '.'.join(names[:-2])  # e.g. Mixed_5b.branch1x1 ; names[-2] in conv/bn
    module, param = names[-2], names[-1]
    key = {('conv', 'kernel'): f'{prefix}.conv.weight', ('bn', 'scale'): f'{prefix}.bn.weight',
           ('bn', 'bias'): f'{prefix}.bn.bias'}[(module, param)]
    if key not in sd:
      raise WeightsError(f'Inception weight file lacks {key}: not a pytorch-fid FID Inception')
    value = np.asarray(sd[key], np.float32)
    if param == 'kernel':
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if value.shape != leaf.shape:
      raise WeightsError(f'Inception weight {key} has shape {value.shape}, expected {leaf.shape}')
    _set(params, names, value)
    if module == 'bn' and param == 'scale':
      for src, dst in (('running_mean', 'mean'), ('running_var', 'var')):
        _set(stats, names[:-1] + [dst], np.asarray(sd[f'{prefix}.bn.{src}'], np.float32))
  # The 1008-way classifier, kept when the file has it in pytorch-fid's shapes (the pool3
  # features never use it; ``logits`` says when it is missing).
  fc_shapes = {'fc.weight': (NUM_LOGITS, 2048), 'fc.bias': (NUM_LOGITS,)}
  if all(k in sd and np.shape(sd[k]) == shape for k, shape in fc_shapes.items()):
    params['fc'] = {'kernel': np.asarray(sd['fc.weight'], np.float32).T.copy(),
                    'bias': np.asarray(sd['fc.bias'], np.float32)}
  return {'params': params, 'batch_stats': stats}


def has_classifier(variables) -> bool:
  """Whether ``variables`` hold the 1008-way ``fc`` classifier that ``logits`` needs."""
  fc = variables['params'].get('fc', {})
  return (np.shape(fc.get('kernel')) == (2048, NUM_LOGITS)
          and np.shape(fc.get('bias')) == (NUM_LOGITS,))


def _set(tree, names, value):
  for n in names[:-1]:
    tree = tree.setdefault(n, {})
  tree[names[-1]] = value


def load_variables(path: str | Path | None = None) -> dict:
  """Reads (and verifies) the pytorch-fid weights; downloads them when no path is given."""
  if path:
    path = Path(path)
    if not path.exists():
      raise WeightsError(f'Inception weights {path} do not exist. {OFFLINE_HINT}')
    if not download.verify(path, WEIGHTS):
      raise WeightsError(f'{path} is not {WEIGHTS.filename} (SHA-256 does not start with '
                         f'{WEIGHTS.digest}); re-download it from {WEIGHTS.url}')
  else:
    path = download.fetch(WEIGHTS, hint=OFFLINE_HINT)
  try:
    sd = torch_pickle.load(path)
  except Exception as e:  # noqa: BLE001 - any parse failure means a bad file
    raise WeightsError(f'cannot read {path} as a PyTorch state dict ({e})') from None
  return variables_from_state_dict(sd)


_forward = jax.jit(lambda v, x: InceptionV3().apply(v, x))
# One program for both conventions: the fc bias, when asked for, is added afterwards.
_forward_with_logits = jax.jit(lambda v, x: InceptionV3(logits=True).apply(v, x))


def features(variables, images01, batch: int = 50, size: int = 299,
             resize: str = 'bilinear') -> np.ndarray:
  """2048-d pool3 features of images in [0, 1] (N, H, W, 1 or 3) -> (N, 2048), quantised
  to uint8 first (``quantize_uint8``; uint8 images are taken as they are).

  Every call runs batches of one shape, ``min(batch, N)``: the last, partial batch is
  padded (and its padding dropped), so a set of any size compiles the network once.
  """
  return _batched(lambda x: (_forward(variables, x),), images01, batch, size, resize)[0]


def features_and_logits(variables, images01, batch: int = 50, size: int = 299,
                        resize: str = 'bilinear', fc_bias: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
  """(N, 2048) pool3 features and (N, 1008) logits of images in [0, 1] in one forward
  pass, with ``features``' quantisation, preprocessing and batching. The logits leave out
  the fc bias unless ``fc_bias`` (the Inception Score's convention; module docstring).
  """
  if not has_classifier(variables):
    raise WeightsError(f'these Inception weights lack the 1008-way classifier (fc.weight '
                       f'(1008, 2048), fc.bias (1008,)) of {WEIGHTS.filename} that logits '
                       f'and the Inception Score need; load that file with load_variables')
  f, logits_ = _batched(lambda x: _forward_with_logits(variables, x), images01, batch, size,
                        resize)
  if fc_bias:
    logits_ = logits_ + np.asarray(variables['params']['fc']['bias'], np.float32)
  return f, logits_


def logits(variables, images01, batch: int = 50, size: int = 299,
           resize: str = 'bilinear', fc_bias: bool = False) -> np.ndarray:
  """(N, 1008) logits of images in [0, 1], as ``features_and_logits`` computes them."""
  return features_and_logits(variables, images01, batch, size, resize, fc_bias)[1]


def _batched(forward, images01, batch, size, resize) -> tuple[np.ndarray, ...]:
  """``forward`` (a tuple of arrays per image batch) over ``images01`` in batches of one
  shape, ``min(batch, N)``, the last one padded; outputs concatenated, padding dropped."""
  images01 = quantize_uint8(images01)
  if len(images01) == 0:
    raise ConfigError('no images to run Inception on: the image array is empty')
  step = max(1, min(batch, len(images01)))
  out = []
  for i in range(0, len(images01), step):
    chunk = images01[i:i + step]
    n = len(chunk)
    if n < step:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - n, axis=0)])
    out.append([np.asarray(y)[:n] for y in forward(preprocess(chunk, size, resize))])
  return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))
