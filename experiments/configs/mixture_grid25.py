"""PacGAN's 2D grid: 25 Gaussians of std 0.05 at {-4,-2,0,2,4}^2 (Lin et al. 2018).

The same networks, optimiser and variants as mixture_ring8 (see there): smoke, paper,
pack2, pack4.
"""

from experiments.configs.mixture_ring8 import mixture_config


def get_config(arg=None):
  """PacGAN on the 25-Gaussian grid (``mixture_config('grid25')``): 20k steps of batch
  100, evaluated by mode coverage on 2500 samples.

  ``arg``: comma-separated variants: 'smoke', 'paper' (400k steps), 'pack2', 'pack4'
  (PacGAN packing degree).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  return mixture_config('grid25', arg)
