"""Gatys et al. (CVPR 2016) Figure 3 / arXiv Figure 2: Tübingen in two artworks' styles,
in the paper's conventions and in the authors' reference-implementation conventions.

    jaxstyle sweep run gatys_fig2:images=../shared/data/images

Rows: style (Turner's Shipwreck of the Minotaur, alpha/beta 1e-3; van Gogh's Starry Night,
8e-4). Columns: paper conventions (conv layers, w_l = 1/5, sum-form losses, average
pooling, noise init, normalised network, content weight 1 and style weight beta/alpha)
vs the reference implementation (relu layers, w_l = 1e3/N_l^2, mean-form losses, max
pooling, content init, style weight 1e3).
"""

from experiments.sweeps import _gatys
from jaxstyle.sweeps.spec import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  """The 2 styles (Shipwreck, Starry Night) x 2 conventions (paper, reference) grid; the
  paper cells use style weight 1 / (the paper's alpha/beta for that style).

  ``arg``: ``key=value`` options of ``_gatys`` (images, backbone=vgg19, size=256, iterations=300).
  Unknown or malformed options raise ValueError.
  """
  opt = _gatys.options(arg)
  styles = {'shipwreck': {'style_images': _gatys.image(opt, 'shipwreck')},
            'starry_night': {'style_images': _gatys.image(opt, 'starry_night')}}
  return Sweep(
      name='gatys_fig2', config='gatys',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base=_gatys.base(opt),
      axes=[Axis('style', styles),
            Axis('conventions', {'paper': _gatys.PAPER, 'reference': _gatys.REFERENCE})],
      derive=lambda labels: ({'style_weight': 1.0 / _gatys.PAPER_RATIOS[labels['style']]}
                             if labels['conventions'] == 'paper' else {}),
      metrics=[Metric('loss', 'total'), Metric('content', 'content/conv4_2'),
               Metric('content_relu', 'content/relu4_2')],
      image='final.png')
