"""pytorch/examples' fast_neural_style models (``TransformerNet`` state dicts) -> jaxstyle.

Their four released models (mosaic, candy, udnie, rain_princess; ``saved_models/*.pth``
from the example's ``download_saved_models.py``) and anything trained with that script
become a ``SavedModel`` of kind 'johnson' with ``pixel_scale=255``, jaxstyle's own parametrisation (those networks take and
return RGB 0..255). Reading uses ``jaxstyle.io.torch_pickle``: torch is not needed. Stale
``in*.running_mean/var`` keys written by old PyTorch versions are ignored, as the example's
own ``stylize()`` does, and so are the biases of convolutions followed by instance
normalisation (it subtracts them again; jaxstyle's network has none there) and of the
residual blocks' second instance norm (a constant shift of the residual stream, which
only convolutions and sums separate from the next normalisation).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from jaxstyle.feedforward.modelfile import ModelFileError, SavedModel
from jaxstyle.io import torch_pickle

_TOP = {'conv1': 'ReflectConv_0', 'in1': 'InstanceNorm_0', 'conv2': 'ReflectConv_1',
        'in2': 'InstanceNorm_1', 'conv3': 'ReflectConv_2', 'in3': 'InstanceNorm_2',
        'deconv1': 'ReflectConv_3', 'in4': 'InstanceNorm_3', 'deconv2': 'ReflectConv_4',
        'in5': 'InstanceNorm_4', 'deconv3': 'ReflectConv_5'}
_RES = {'conv1': 'ReflectConv_0', 'in1': 'InstanceNorm_0', 'conv2': 'ReflectConv_1',
        'in2': 'InstanceNorm_1'}


def from_state_dict(state_dict: dict, origin: str = 'state dict') -> SavedModel:
  """A pytorch/examples ``TransformerNet`` state dict (name -> array, OIHW
  kernels) -> a 'johnson' ``SavedModel`` (pixel_scale 255, linear output; widths and number
  of residual blocks read from the weights). ``origin`` names the source in messages and in
  ``meta['converted_from']``. Raises ModelFileError for keys of any other network.
  """
  params: dict = {}
  residual = set()
  for key, value in state_dict.items():
    value = np.asarray(value, np.float32)
    if 'running_' in key or key.endswith('num_batches_tracked'):
      continue
    m = re.fullmatch(r'res(\d+)\.(\w+?)(?:\.conv2d)?\.(weight|bias)', key)
    if m:
      block, layer, kind = int(m.group(1)), m.group(2), m.group(3)
      residual.add(block)
      path = [f'ResidualBlock_{block - 1}', _RES.get(layer)]
    else:
      m = re.fullmatch(r'(\w+?)(?:\.conv2d)?\.(weight|bias)', key)
      if not m or m.group(1) not in _TOP:
        raise ModelFileError(f'{origin}: unexpected key {key!r}; not a pytorch/examples '
                             f'TransformerNet state dict')
      layer, kind = m.group(1), m.group(2)
      path = [_TOP[layer]]
    if None in path:
      raise ModelFileError(f'{origin}: unexpected key {key!r}')
    if path[-1].startswith('ReflectConv'):
      if kind == 'bias' and layer != 'deconv3':
        continue  # cancelled by the instance norm that follows
      path.append('Conv_0')
      leaf = 'kernel' if kind == 'weight' else 'bias'
      if kind == 'weight':
        value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    else:
      leaf = 'scale' if kind == 'weight' else 'bias'
      if kind == 'bias' and m.re.pattern.startswith('res') and layer == 'in2':
        continue  # a constant shift of the residual stream, cancelled downstream
    node = params
    for p in path:
      node = node.setdefault(p, {})
    node[leaf] = value
  try:
    widths = [int(params[f'ReflectConv_{i}']['Conv_0']['kernel'].shape[-1]) for i in range(3)]
  except KeyError:
    raise ModelFileError(f'{origin}: missing the first convolutions; not a TransformerNet') from None
  net = dict(widths=widths, num_residual=len(residual), output='linear', pixel_scale=255.0)
  meta = {'converted_from': origin, 'source': 'pytorch/examples fast_neural_style'}
  return SavedModel('johnson', net, {'params': params, 'model_state': {}}, meta)


def from_pytorch_examples(path: str | Path) -> SavedModel:
  """Reads a ``.pth``/``.model`` file saved by pytorch/examples' neural_style.py."""
  try:
    state_dict = torch_pickle.load(path)
  except FileNotFoundError:
    raise ModelFileError(f'no model file {path}; check the path') from None
  except Exception as e:  # noqa: BLE001 -- any parse failure is a bad file for the user
    raise ModelFileError(f'{path} is not a readable PyTorch state dict ({e})') from None
  if not isinstance(state_dict, dict):
    raise ModelFileError(f'{path} holds a {type(state_dict).__name__}, not a state dict')
  return from_state_dict(state_dict, str(path))
