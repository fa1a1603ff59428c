"""Gatys et al. (CVPR 2016) Figure 4 / arXiv Figure 3: style layers x content/style ratio.

    jaxstyle sweep run gatys_fig3:images=../shared/data/images

Rows: the style is matched on conv1_1 only, then up to conv2_1, conv3_1, conv4_1,
conv5_1 (w_l = 1/number of layers). Columns: alpha/beta = 1e-5, 1e-4, 1e-3, 1e-2 (content
weight 1, style weight beta/alpha). Paper conventions throughout (content conv4_2,
sum-form losses, average pooling, noise init, normalised network). The paper's style
image is Kandinsky's Composition VII; this sweep uses Starry Night (available offline).
Option ``ratios=A:B:...`` replaces the columns: a ratio only carries over between
networks whose features have the paper's scale, so another backbone may need the
columns shifted to show the same transition.
"""

from experiments.sweeps import _gatys
from jaxstyle.sweeps.spec import Axis, Metric, Sweep

LAYERS = ('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1')
RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)


def get_sweep(arg=None) -> Sweep:
  """The 5 style-layer depths x content/style ratios grid in the paper's conventions.

  ``arg``: ``key=value`` options of ``_gatys`` (images, backbone=vgg19, size=256, iterations=300)
  and 'ratios=A:B:...' (alpha/beta per column, default 1e-05:0.0001:0.001:0.01); other
  ratios add a ``_ratios_A_to_B`` suffix to the sweep name.
  Unknown or malformed options raise ValueError.
  """
  opt = _gatys.options(arg, ratios=':'.join(f'{r:g}' for r in RATIOS))
  try:
    columns = [float(r) for r in opt['ratios'].split(':')]
  except ValueError:
    raise ValueError(f'ratios must be numbers separated by ":", got {opt["ratios"]!r}') from None
  up_to = {layer: {'style_layers': ','.join(LAYERS[:i + 1])} for i, layer in enumerate(LAYERS)}
  ratios = {f'{r:g}': {'style_weight': 1.0 / r} for r in columns}
  shifted = tuple(columns) != RATIOS
  return Sweep(
      name='gatys_fig3' + (f'_ratios_{columns[0]:g}_to_{columns[-1]:g}' if shifted else ''),
      config='gatys',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={**_gatys.base(opt), **_gatys.PAPER,
            'style_images': _gatys.image(opt, 'starry_night')},
      axes=[Axis('style_up_to', up_to), Axis('content_style_ratio', ratios)],
      metrics=[Metric('loss', 'total'), Metric('content', 'content/conv4_2')],
      image='final.png')
