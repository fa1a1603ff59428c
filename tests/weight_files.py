"""Weight files in the real formats, written from given arrays; no import side effects,
so bench/ scripts can use it on any backend (tests/conftest.py fixes JAX to 8 CPU devices)."""

from pathlib import Path

import h5py


def write_keras2(path: Path, convs: dict) -> Path:
  """A Keras Applications *_notop.h5 file (Keras 2 HDF5 layout)."""
  with h5py.File(path, 'w') as f:
    names = []
    for name, (kernel, bias) in convs.items():
      block, i = name[4:].split('_')
      layer = f'block{block}_conv{i}'
      names.append(layer.encode())
      g = f.create_group(layer)
      g.attrs['weight_names'] = [f'{layer}/kernel:0'.encode(), f'{layer}/bias:0'.encode()]
      g.create_dataset(f'{layer}/kernel:0', data=kernel)
      g.create_dataset(f'{layer}/bias:0', data=bias)
    f.attrs['layer_names'] = names
    f.attrs['backend'] = b'tensorflow'
    f.attrs['keras_version'] = b'2.1.5'
  return path
