"""Gatys et al. (CVPR 2016) Figures 5 and 6: the content layer, and the initialisation.

    jaxstyle sweep run gatys_fig5_6:images=../shared/data/images

One row of cells, alpha/beta = 1e-3, paper conventions (sum-form losses, average
pooling, normalised network, style conv1_1..conv5_1): content matched on conv2_2
instead of conv4_2 (Figure 5; noise init), then the image initialised from the content
photograph, from the style image, and from white noise with four seeds (Figure 6;
content conv4_2). The paper's Figure 5 style is Feininger's Jesuiten III; Starry Night
is used for both figures here (available offline).
"""

from experiments.sweeps import _gatys
from jaxstyle.sweeps.spec import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  """Eight cells in the paper's conventions at alpha/beta 1e-3: content on conv2_2 vs conv4_2
  (Figure 5), then content, style and four noise initialisations (Figure 6).

  ``arg``: ``key=value`` options of ``_gatys`` (images, backbone=vgg19, size=256, iterations=300).
  Unknown or malformed options raise ValueError.
  """
  opt = _gatys.options(arg)
  cells = {'content-conv2_2': {'content_layers': 'conv2_2'},
           'content-conv4_2': {},
           'init-content': {'init': 'content'},
           'init-style': {'init': 'style'}}
  cells.update({f'init-noise-{s}': {'seed': s} for s in range(4)})
  return Sweep(
      name='gatys_fig5_6', config='gatys',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={**_gatys.base(opt), **_gatys.PAPER, 'style_weight': 1e3,
            'style_images': _gatys.image(opt, 'starry_night')},
      axes=[Axis('cell', cells)], seed_keys=(),
      metrics=[Metric('loss', 'total'), Metric('content_conv4_2', 'content/conv4_2'),
               Metric('content_conv2_2', 'content/conv2_2')],
      image='final.png')
