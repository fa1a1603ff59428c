"""GAN loss x spectral-norm ablation on PacGAN's 2D ring and grid.

    jaxstyle sweep run gan_mixtures_ablation[:steps=N,seeds=K]

Axes: data (ring8, grid25) x loss (minimax, non-saturating, hinge, least squares, WGAN-GP
with gradient-penalty weight 10) x spectral norm in D (off, on), seeds 0..K-1. Everything
else is PacGAN's setting (experiments/configs/mixture_ring8.py: G 4 x [400, BN, ReLU],
D 3 maxout 200 x 5, Adam 1e-4 b1 0.8, batch 100, one D step per G step), so only the
loss and the normalisation change. The evaluation (PacGAN's: 2,500 samples, modes with a
sample within 3 std, high-quality %, reverse KL of the mode histogram) runs every
``eval_every`` steps into evals.jsonl; "final" is the last evaluation, "best" the best one.
PacGAN trains 400k steps; the default here is a CPU budget.
"""

from experiments.sweeps import _args
from jaxstyle.sweeps.spec import Axis, Metric, Sweep

LOSSES = {
    'minimax': {'train.loss': 'minimax', 'train.gp_weight': 0.0},
    'non-saturating': {'train.loss': 'non_saturating', 'train.gp_weight': 0.0},
    'hinge': {'train.loss': 'hinge', 'train.gp_weight': 0.0},
    'least-squares': {'train.loss': 'least_squares', 'train.gp_weight': 0.0},
    'wgan-gp': {'train.loss': 'wasserstein', 'train.gp_weight': 10.0},
}


def get_sweep(arg=None) -> Sweep:
  """The 2 mixtures x 5 losses x spectral norm off/on grid, ``seeds`` seeds per cell.

  ``arg``: 'steps=N' (default 5000), 'seeds=K' (default 3), 'eval_every=E' (steps between
  evaluations, default 500). Unknown or malformed options raise ValueError.
  """
  opt = _args.parse(arg, {'steps': 5000, 'seeds': 3, 'eval_every': 500})
  steps = opt['steps']
  return Sweep(
      name='gan_mixtures_ablation',
      config='mixture_ring8',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={'train.num_steps': steps, 'eval.every': opt['eval_every'],
            'checkpoint.every': min(1000, steps), 'log.every': min(100, steps),
            'log.sample_every': steps, 'log.tensorboard': False},
      axes=[Axis.of('data.name', ['ring8', 'grid25'], name='data'),
            Axis('loss', LOSSES),
            Axis.of('model.spectral_norm', [False, True], name='sn')],
      seeds=tuple(range(opt['seeds'])),
      metrics=[Metric('modes', 'modes', 'evals.jsonl', 'max'),
               Metric('hq_percent', 'hq', 'evals.jsonl', 'max', scale=100.0),
               Metric('reverse_kl', 'reverse_kl', 'evals.jsonl', 'min')],
      image='samples/step_*.png',
      # Every cell is compared with PacGAN's own setting on the same data (Welch's t-test
      # over seeds in the report; jaxstyle sweep report --baseline changes it).
      baseline={'loss': 'non-saturating', 'sn': 'off'})
