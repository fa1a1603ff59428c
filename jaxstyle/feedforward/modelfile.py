"""Saved feed-forward models: one self-contained file per trained network.

Layout (``.jaxstyle``)::

  b'JAXSTYLE-MODEL\\n'                       magic line
  {"format_version": 1, "kind": ..., ...}\\n  one JSON header line
  <msgpack payload>                          flax.serialization of the variables

The header carries the model kind ('johnson' | 'texture' | 'adain'), the network's
constructor arguments, the encoder description for AdaIN (whose frozen VGG layers up to
relu4_1 travel in the payload, so the file needs nothing else), the training config and
step, and the payload's length and SHA-256. Loading checks all of them: a truncated or
altered file, a file of another format version, or a model of another kind is refused
with one line that says so. Files are written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
from flax import serialization

from jaxstyle.errors import JaxstyleError, OutputError
from jaxstyle.io import fileio

MAGIC = b'JAXSTYLE-MODEL\n'
FORMAT_VERSION = 1
SUFFIX = '.jaxstyle'


class ModelFileError(JaxstyleError):
  """A model file that is missing, damaged, of another version or of another kind."""


@dataclasses.dataclass
class SavedModel:
  """A trained feed-forward model in memory: what a ``.jaxstyle`` file holds.

  ``kind`` is 'johnson', 'texture' or 'adain'; ``net`` is what ``apply.build_net`` needs to
  rebuild the module; ``variables`` are numpy/JAX trees.
  """
  kind: str
  net: dict          # constructor arguments of the network
  variables: dict    # {'params': ..., 'model_state': ..., 'encoder': ... (AdaIN)}
  meta: dict         # encoder description, training config, step, ...


def save(path: str | Path, model: SavedModel) -> Path:
  """Writes ``model`` to ``path`` atomically (parent directories created); returns
  the path. Raises OutputError if it cannot be written.
  """
  path = Path(path)
  payload = serialization.msgpack_serialize(_to_numpy(model.variables))
  header = {'format_version': FORMAT_VERSION, 'kind': model.kind, 'net': model.net,
            'meta': model.meta, 'payload_bytes': len(payload),
            'payload_sha256': hashlib.sha256(payload).hexdigest()}
  line = json.dumps(header, sort_keys=True, default=str).encode() + b'\n'
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    return fileio.atomic_write(path, lambda f: f.write(MAGIC + line + payload))
  except OSError as e:
    raise OutputError(f'cannot write the model file {path}: {e.strerror}; free space or '
                      f'choose another path') from None


def read_header(path: str | Path) -> dict:
  """The JSON header of a model file (or of ``run_dir/model.jaxstyle``) without
  reading the payload: kind, net, meta, payload size and checksum. Raises ModelFileError
  for a missing file, a file of another format or version, or a damaged header.
  """
  return _read(path, header_only=True)[0]


def load(path: str | Path, kind: str | tuple[str, ...] | None = None) -> SavedModel:
  """Reads and checks a model file; ``kind`` restricts the accepted kinds."""
  header, payload = _read(path)
  path = Path(path)
  kinds = (kind,) if isinstance(kind, str) else kind
  if kinds and header['kind'] not in kinds:
    raise ModelFileError(f'{path} is a {header["kind"]!r} model, but this needs '
                         f'{" or ".join(repr(k) for k in kinds)}; pass a model of that kind')
  if len(payload) != header['payload_bytes']:
    raise ModelFileError(f'{path} is truncated ({len(payload)} of {header["payload_bytes"]} '
                         f'payload bytes); copy or export it again')
  if hashlib.sha256(payload).hexdigest() != header['payload_sha256']:
    raise ModelFileError(f'{path} is damaged (payload checksum mismatch); copy or export it '
                         f'again')
  variables = serialization.msgpack_restore(payload)
  return SavedModel(header['kind'], header['net'], variables, header['meta'])


def _read(path, header_only: bool = False):
  path = Path(path)
  if path.is_dir():
    candidate = path / f'model{SUFFIX}'
    if not candidate.exists():
      raise ModelFileError(f'{path} is a directory without model{SUFFIX}; pass a model file '
                           f'or a finished run directory')
    path = candidate
  try:
    with open(path, 'rb') as f:
      magic = f.read(len(MAGIC))
      if magic != MAGIC:
        raise ModelFileError(f'{path} is not a jaxstyle model file (a checkpoint directory '
                             f'or a PyTorch .pth? train one with `jaxstyle run johnson` or pass '
                             f'run_dir/model{SUFFIX})')
      line = f.readline()
      try:
        header = json.loads(line)
      except ValueError:
        raise ModelFileError(f'{path} has a damaged header (truncated?); copy or export it '
                             f'again') from None
      version = header.get('format_version')
      if version != FORMAT_VERSION:
        raise ModelFileError(f'{path} has model format version {version}, this jaxstyle reads '
                             f'version {FORMAT_VERSION}; use the jaxstyle version that wrote it '
                             f'or export it again')
      return header, (b'' if header_only else f.read())
  except FileNotFoundError:
    raise ModelFileError(f'no model file {path}; check the path') from None
  except OSError as e:
    raise ModelFileError(f'cannot read {path}: {e.strerror}') from None


def _to_numpy(tree):
  if isinstance(tree, dict):
    return {k: _to_numpy(v) for k, v in tree.items()}
  return np.asarray(tree)
