"""PacGAN's 2D ring: 8 Gaussians of std 0.01 on the unit circle (Lin et al. 2018).

Nets and optimiser as PacGAN ran them: G 4 x [400, BN, ReLU], D 3 maxout 200 x 5,
N(0, 0.02) init, Adam 1e-4 with b1 0.8, batch 100, 100k training points. PacGAN trains
400 epochs (400k steps); the default here is 20k steps (``paper`` restores 400 epochs).
Variants (comma-separated): smoke, paper, pack2, pack4.
"""

from experiments.configs import gan_common


def get_config(arg=None):
  """PacGAN on the 8-Gaussian ring (``mixture_config('ring8')``): 20k steps of batch 100,
  evaluated by mode coverage on 2500 samples.

  ``arg``: comma-separated variants: 'smoke', 'paper' (400k steps), 'pack2', 'pack4'
  (PacGAN packing degree).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  return mixture_config('ring8', arg)


def mixture_config(mixture: str, arg=None):
  """The PacGAN setting for either mixture (mixture_grid25.py uses it too)."""
  c = gan_common.base()
  c.data.kind, c.data.name = 'mixture', mixture
  c.model.arch, c.model.noise_dim = 'pacgan_mlp', 2
  c.train.batch_size, c.train.num_steps = 100, 20_000
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.lr, opt.b1 = 1e-4, 0.8
  c.checkpoint.every = 5000
  c.log.every, c.log.sample_every, c.log.num_samples = 500, 5000, 2500
  c.eval.kind, c.eval.num_samples = 'modes', 2500
  return gan_common.apply_variants(c, arg, {
      'smoke': gan_common.smoke,
      'paper': lambda c: setattr(c.train, 'num_steps', 400_000),
      'pack2': lambda c: setattr(c.model, 'pack', 2),
      'pack4': lambda c: setattr(c.model, 'pack', 4),
  })
