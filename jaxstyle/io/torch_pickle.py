"""Reads a PyTorch ``torch.save`` file of tensors into numpy arrays, without torch.

Both formats torch has written: the zip archive (torch >= 1.6: ``*/data.pkl`` plus one
raw file per storage) and the legacy stream (magic number, protocol, system info, the
pickled object, the storage keys, then each storage as an 8-byte length and raw bytes).
Only tensors, storages, dicts/OrderedDicts and plain Python values are rebuilt; any other
class in the pickle is refused, so loading a weight file cannot run arbitrary code.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c

_STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'LongStorage': np.int64, 'IntStorage': np.int32, 'ShortStorage': np.int16,
    'CharStorage': np.int8, 'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}


class _StorageType:
  def __init__(self, name):
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
  def __init__(self, key, dtype, numel):
    self.key, self.dtype, self.numel = key, dtype, numel


class _Tensor:
  """A tensor whose storage bytes may not have been read yet."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

  def materialise(self, storages) -> np.ndarray:
    data = storages[self.storage.key]
    if not self.size:
      return data[self.offset].copy()
    itemsize = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                           strides=tuple(s * itemsize for s in self.stride))
    return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *unused):
  del unused
  return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
  def find_class(self, module, name):
    if module == 'collections' and name == 'OrderedDict':
      return collections.OrderedDict
    if module == 'torch._utils' and name in ('_rebuild_tensor_v2', '_rebuild_tensor'):
      return _rebuild_tensor
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(f'refusing to load {module}.{name} from a weight file')

  def persistent_load(self, pid):
    # ('storage', storage_type, key, location, numel[, view_metadata])
    _, storage_type, key, _, numel = pid[:5]
    return _StorageRef(str(key), storage_type.dtype, int(numel))


def _refs(obj, out):
  if isinstance(obj, _Tensor):
    out[obj.storage.key] = obj.storage
  elif isinstance(obj, dict):
    for v in obj.values():
      _refs(v, out)
  elif isinstance(obj, (list, tuple)):
    for v in obj:
      _refs(v, out)
  return out


def _resolve(obj, storages):
  if isinstance(obj, _Tensor):
    return obj.materialise(storages)
  if isinstance(obj, dict):
    return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_resolve(v, storages) for v in obj)
  return obj


def load(path: str | Path):
  """The object saved in ``path`` (typically a state dict) with numpy arrays for tensors."""
  path = Path(path)
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as zf:
      pkl = next(n for n in zf.namelist() if n.endswith('data.pkl'))
      prefix = pkl[:-len('data.pkl')]
      obj = _Unpickler(io.BytesIO(zf.read(pkl))).load()
      storages = {key: np.frombuffer(zf.read(f'{prefix}data/{key}'), ref.dtype)[:ref.numel]
                  for key, ref in _refs(obj, {}).items()}
    return _resolve(obj, storages)
  with open(path, 'rb') as f:
    if pickle.load(f) != LEGACY_MAGIC:
      raise pickle.UnpicklingError('not a PyTorch file (no zip archive, no legacy magic number)')
    pickle.load(f)  # protocol version
    pickle.load(f)  # system info
    obj = _Unpickler(f).load()
    refs = _refs(obj, {})
    storages = {}
    for key in pickle.load(f):
      (numel,) = struct.unpack('<q', f.read(8))
      dtype = refs[str(key)].dtype
      raw = f.read(numel * dtype.itemsize)
      if len(raw) != numel * dtype.itemsize:
        raise EOFError(f'storage {key} is truncated')
      storages[str(key)] = np.frombuffer(raw, dtype)
  return _resolve(obj, storages)
