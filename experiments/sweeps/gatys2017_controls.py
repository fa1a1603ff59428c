"""Gatys et al. (CVPR 2017) "Controlling Perceptual Factors": colour, scale, space.

    jaxstyle sweep run gatys2017_controls:images=../shared/data/images

Tübingen with Starry Night in the reference-implementation setting the 2017 notebooks
use (relu layers, w_l = 1e3/N_l^2, content weight 1, style weight 1e3, content init):
plain; colour control by luminance-only transfer and by colour-matching the style to
the photograph; scale control with the style image at half and twice the output size;
coarse-to-fine (two scales); and spatial control: Starry Night and Shipwreck blended
over the whole image (unguided) vs guided Gram matrices giving the sky Starry Night and
the town Shipwreck (masks: results/gatys2017/masks, from
experiments/figures/tubingen_masks.py).
"""

from experiments.sweeps import _gatys
from jaxstyle.sweeps.spec import Axis, Metric, Sweep

MASKS = 'results/gatys2017/masks'


def get_sweep(arg=None) -> Sweep:
  """Eight Tübingen/Starry Night runs, one per control: plain, two colour controls, two
  style scales, coarse-to-fine, and two styles blended vs guided by the masks in ``MASKS``
  (make them first with experiments/figures/tubingen_masks.py).

  ``arg``: ``key=value`` options of ``_gatys`` (images, backbone=vgg19, size=256, iterations=300).
  Unknown or malformed options raise ValueError.
  """
  opt = _gatys.options(arg)
  starry, shipwreck = _gatys.image(opt, 'starry_night'), _gatys.image(opt, 'shipwreck')
  cells = {
      'plain': {},
      'colour-luminance': {'preserve_colors': 'luminance'},
      'colour-match': {'preserve_colors': 'color_match'},
      'style-scale-0.5': {'style_scale': 0.5},
      'style-scale-2': {'style_scale': 2.0},
      'coarse-to-fine': {'num_scales': 2},
      'two-styles-blended': {'style_images': f'{starry},{shipwreck}'},
      'two-styles-guided': {'style_images': f'{starry},{shipwreck}',
                            'content_masks': f'{MASKS}/tubingen_sky.png,{MASKS}/tubingen_town.png'},
  }
  return Sweep(
      name='gatys2017_controls', config='gatys',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={**_gatys.base(opt), **_gatys.REFERENCE, 'style_images': starry},
      axes=[Axis('control', cells)], seed_keys=(),
      metrics=[Metric('loss', 'total'), Metric('content', 'content/relu4_2')],
      image='final.png')
