"""Gatys et al. (CVPR 2016) Figures 5 and 6: the content layer, and the initialisation.

    python -m experiments.sweep run experiments/sweeps/gatys_fig5_6.py:images=../shared/data/images

One row of cells, alpha/beta = 1e-3, paper conventions (sum-form losses, average
pooling, normalised network, style conv1_1..conv5_1): content matched on conv2_2
instead of conv4_2 (Figure 5; noise init), then the image initialised from the content
photograph, from the style image, and from white noise with four seeds (Figure 6;
content conv4_2). The paper's Figure 5 style is Feininger's Jesuiten III; Starry Night
is used for both figures here (available offline).
"""

from experiments.sweeps import _gatys
from jaxstyle.sweep import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  opt = _gatys.options(arg)
  cells = {'content-conv2_2': {'content_layers': 'conv2_2'},
           'content-conv4_2': {},
           'init-content': {'init': 'content'},
           'init-style': {'init': 'style'}}
  cells.update({f'init-noise-{s}': {'seed': s} for s in range(4)})
  return Sweep(
      name='gatys_fig5_6', config='experiments/configs/gatys.py',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={**_gatys.base(opt), **_gatys.PAPER, 'style_weight': 1e3,
            'style_images': _gatys.image(opt, 'starry_night')},
      axes=[Axis('cell', cells)], seed_keys=(),
      metrics=[Metric('loss', 'total'), Metric('content_conv4_2', 'content/conv4_2'),
               Metric('content_conv2_2', 'content/conv2_2')],
      image='final.png')
