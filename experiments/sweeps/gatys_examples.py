"""Gatys et al. style transfer on the paper's Figure 2 inputs with the offline backbone:
two stylised photographs, the paper's conventions, texture synthesis and a style-weight
sweep (results/gatys).

    jaxstyle sweep run gatys_examples:images=../shared/data/images

Axis: run. ``tubingen_starry_night`` / ``tubingen_shipwreck``: the reference
implementation's conventions (experiments/configs/gatys.py, variant hed) at ``size`` px
for ``iterations`` L-BFGS iterations; ``paper_conventions_starry_night``: variant
hed,paper for twice ``sweep_iterations``; ``texture_starry_night``: variant hed,texture;
``sweep_style_weight_W``: style weight W at content weight 1, ``sweep_size`` px,
``sweep_iterations`` iterations. ``python -m experiments.figures.gatys_fig2`` runs this
sweep and writes results/gatys.
"""

from experiments.sweeps import _args, _gatys
from jaxstyle.sweeps.spec import Axis, Sweep

# With these losses and the HED backbone, style weights >= 10 all converge to the same
# style-dominated image (L-BFGS is invariant to the scale of the objective); the
# content/style trade-off happens between 1e-3 and 10.
STYLE_WEIGHTS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def get_sweep(arg=None) -> Sweep:
  """Nine runs with HED's VGG-16 (config gatys:hed): two stylised photographs, the paper's
  conventions, texture synthesis and one run per weight in ``STYLE_WEIGHTS``.

  ``arg``: 'images=DIR' ('' = named images), 'size' (default 384), 'iterations' (300),
  'sweep_size' (256), 'sweep_iterations' (150). Unknown or malformed options raise ValueError.
  """
  opt = _args.parse(arg, {'images': '', 'size': 384, 'iterations': 300, 'sweep_size': 256,
                          'sweep_iterations': 150})
  tubingen, starry = _gatys.image(opt, 'tubingen'), _gatys.image(opt, 'starry_night')
  full = {'image_size': opt['size'], 'iterations': opt['iterations'], 'content_image': tubingen}
  small = {'image_size': opt['sweep_size'], 'iterations': opt['sweep_iterations'],
           'content_image': tubingen, 'style_images': starry}
  runs = {
      'tubingen_starry_night': {'config': 'gatys:hed', **full, 'style_images': starry},
      'tubingen_shipwreck': {'config': 'gatys:hed', **full,
                             'style_images': _gatys.image(opt, 'shipwreck')},
      'paper_conventions_starry_night': {'config': 'gatys:hed,paper', **small,
                                         'iterations': 2 * opt['sweep_iterations']},
      'texture_starry_night': {'config': 'gatys:hed,texture', **small, 'content_image': ''},
  }
  for w in STYLE_WEIGHTS:
    runs[f'sweep_style_weight_{w:g}'] = {'config': 'gatys:hed', **small, 'style_weight': w,
                                         'save_every': 0}
  return Sweep(name='gatys_examples', config='gatys:hed',
               description=__doc__.split('\n\n')[2].replace('\n', ' '),
               axes=[Axis('run', runs)], image='final.png')
