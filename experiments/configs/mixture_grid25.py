"""PacGAN's 2D grid: 25 Gaussians of std 0.05 at {-4,-2,0,2,4}^2 (Lin et al. 2018).

The same networks, optimiser and variants as mixture_ring8 (see there): smoke, paper,
pack2, pack4.
"""

from experiments.configs.mixture_ring8 import mixture_config


def get_config(arg=None):
  return mixture_config('grid25', arg)
