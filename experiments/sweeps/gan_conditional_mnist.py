"""Class-conditional GANs on MNIST: {unconditional, projection, AC-GAN} x {DCGAN-28,
SNGAN ResNet-28}, scored in the project's MNIST-classifier features.

    jaxstyle sweep run gan_conditional_mnist[:dcgan_steps=N,sngan_steps=M,seeds=K,mnist=DIR]

Axes: model (dcgan28: experiments/configs/dcgan_mnist.py, sngan28: sngan_mnist.py, both in
their ``shared10k`` variant: trained on MNIST test images 0:8000, scored against 9000:10000)
and conditioning (none, projection: conditional BatchNorm in G and a projection
discriminator, acgan: conditional BatchNorm in G and an auxiliary classifier in D); seeds
0..K-1. Metrics: the classifier's accuracy on the samples of each class (balanced labels,
conditional runs only), classifier FD, intra-class FD, precision/recall (k=3) and
density/coverage (k=5) of the generated samples against the 1000 held-out images.
"""

from experiments.sweeps import _args
from jaxstyle.sweeps.spec import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  """The 2 x 3 conditional-GAN grid on the shared 10k MNIST images, ``seeds`` seeds each.

  ``arg``: 'dcgan_steps=N' (default 1500), 'sngan_steps=M' (default 1500), 'seeds=K'
  (default 3), 'samples=S' (generated samples scored, default 5000), 'mnist=DIR' (the
  MNIST idx files, default ../shared/data/mnist).
  Unknown or malformed options raise ValueError.
  """
  opt = _args.parse(arg, {'dcgan_steps': 1500, 'sngan_steps': 1500, 'seeds': 3,
                          'samples': 5000, 'mnist': '../shared/data/mnist'})
  return Sweep(
      name='gan_conditional_mnist',
      config='dcgan_mnist:shared10k',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={'data.path': opt['mnist'], 'eval.num_samples': opt['samples'],
            'checkpoint.every': 500},
      axes=[Axis('model', {
                'dcgan28': {'train.num_steps': opt['dcgan_steps'],
                            'log.sample_every': opt['dcgan_steps']},
                'sngan28': {'config': 'sngan_mnist:shared10k',
                            'train.num_steps': opt['sngan_steps'],
                            'log.sample_every': opt['sngan_steps']}}),
            Axis.of('model.conditioning', ['none', 'projection', 'acgan'], name='cond')],
      seeds=tuple(range(opt['seeds'])),
      seed_keys=('seed', 'data.order_seed'),
      baseline={'cond': 'none'},
      metrics=[Metric('class_acc', 'conditional.classifier_accuracy.accuracy', 'eval.json',
                      'max', scale=100.0),
               Metric('classifier_fd', 'classifier.frechet_distance', 'eval.json', 'min'),
               Metric('intra_fd', 'conditional.intra_class_frechet.mean', 'eval.json', 'min'),
               Metric('precision', 'classifier.precision', 'eval.json', 'max'),
               Metric('recall', 'classifier.recall', 'eval.json', 'max'),
               Metric('density', 'classifier.density', 'eval.json', 'max'),
               Metric('coverage', 'classifier.coverage', 'eval.json', 'max')],
      image='samples/step_*.png')
