"""PacGAN's 2D ring and grid with the plain GAN (Lin et al. 2018, Table 1, "GAN" row).

    jaxstyle sweep run gan_mixtures[:steps=N,seeds=K]

Axis: data (ring8, grid25); seeds 0..K-1, each also the data order seed. Everything else is
PacGAN's setting (experiments/configs/mixture_ring8.py: non-saturating loss, G 4 x [400,
BN, ReLU], D 3 maxout 200 x 5, Adam 1e-4 b1 0.8, batch 100). The evaluation of the final
generator (2,500 samples: modes with a sample within 3 std, high-quality %, reverse KL)
is each run's eval.json. ``python -m experiments.figures.gan_mixtures`` runs this sweep
and writes results/gan/mixtures.{md,json} with PacGAN's published row beside it.
"""

from experiments.sweeps import _args
from jaxstyle.sweeps.spec import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  """PacGAN's plain-GAN row: ring8 and grid25 (config mixture_ring8) x ``seeds`` seeds.

  ``arg``: 'steps=N' (training steps per run, default 10000), 'seeds=K' (default 3).
  Unknown or malformed options raise ValueError.
  """
  opt = _args.parse(arg, {'steps': 10_000, 'seeds': 3})
  steps = opt['steps']
  return Sweep(
      name='gan_mixtures',
      config='mixture_ring8',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={'train.num_steps': steps, 'checkpoint.every': min(1000, steps),
            'log.sample_every': steps},
      axes=[Axis.of('data.name', ['ring8', 'grid25'], name='data')],
      seeds=tuple(range(opt['seeds'])),
      seed_keys=('seed', 'data.order_seed'),
      metrics=[Metric('modes', 'modes', 'eval.json', 'max'),
               Metric('hq_percent', 'hq', 'eval.json', 'max', scale=100.0),
               Metric('reverse_kl', 'reverse_kl', 'eval.json', 'min')],
      image='samples/step_*.png')
