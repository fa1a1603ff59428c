"""Class-conditional GANs on PacGAN's 2D ring and grid, the mode index as the class.

    jaxstyle sweep run gan_conditional_mixtures[:steps=N,seeds=K]

Axes: data (ring8: 8 classes, grid25: 25), conditioning (none, projection, acgan); seeds
0..K-1. PacGAN's setting otherwise (experiments/configs/mixture_ring8.py: G 4 x [400, BN,
ReLU] with the one-hot label concatenated to z, D 3 maxout 200 x 5 with a projection or
an auxiliary-classifier head). Metrics on 2500 samples with balanced labels: PacGAN's
modes / high-quality % / reverse KL, and the per-class mode accuracy (the fraction of
class-k samples that are high-quality samples of mode k; conditional runs only).
"""

from experiments.sweeps import _args
from jaxstyle.sweeps.spec import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  """ring8 and grid25 x {none, projection, acgan} x ``seeds`` seeds.

  ``arg``: 'steps=N' (training steps per run, default 2000), 'seeds=K' (default 3).
  Unknown or malformed options raise ValueError.
  """
  opt = _args.parse(arg, {'steps': 2000, 'seeds': 3})
  steps = opt['steps']
  return Sweep(
      name='gan_conditional_mixtures',
      config='mixture_ring8',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={'train.num_steps': steps, 'checkpoint.every': min(1000, steps),
            'log.sample_every': steps},
      axes=[Axis.of('data.name', ['ring8', 'grid25'], name='data'),
            Axis.of('model.conditioning', ['none', 'projection', 'acgan'], name='cond')],
      seeds=tuple(range(opt['seeds'])),
      seed_keys=('seed', 'data.order_seed'),
      baseline={'cond': 'none'},
      metrics=[Metric('mode_acc', 'conditional.accuracy', 'eval.json', 'max', scale=100.0),
               Metric('modes', 'modes', 'eval.json', 'max'),
               Metric('hq_percent', 'hq', 'eval.json', 'max', scale=100.0),
               Metric('reverse_kl', 'reverse_kl', 'eval.json', 'min')],
      image='samples/step_*.png')
