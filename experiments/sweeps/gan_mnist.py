"""The Goodfellow et al. 2014 MLP GAN and DCGAN-28 on MNIST, scored with Goodfellow's
Parzen protocol and the Fréchet distance in the project's MNIST-classifier features.

    jaxstyle sweep run gan_mnist[:goodfellow_steps=N,dcgan_steps=M,mnist=DIR]

Axis: model (goodfellow: experiments/configs/goodfellow_mnist.py, dcgan28:
dcgan_mnist.py), both in their ``shared10k`` variant: with only the 10k MNIST test images
at hand they train on images 0:8000, the Parzen sigma is chosen on 8000:9000 and the score
is on 9000:10000. ``python -m experiments.figures.gan_mnist`` runs this sweep and writes
results/gan/mnist.{md,json}.
"""

from experiments.sweeps import _args
from jaxstyle.sweeps.spec import Axis, Metric, Sweep


def get_sweep(arg=None) -> Sweep:
  """Two runs on the shared 10k MNIST test images: Goodfellow et al.'s MLP GAN and DCGAN-28.

  ``arg``: 'goodfellow_steps=N' (default 5000), 'dcgan_steps=M' (default 1000), 'mnist=DIR'
  (the MNIST idx files, default ../shared/data/mnist).
  Unknown or malformed options raise ValueError.
  """
  opt = _args.parse(arg, {'goodfellow_steps': 5000, 'dcgan_steps': 1000,
                          'mnist': '../shared/data/mnist'})
  return Sweep(
      name='gan_mnist',
      config='goodfellow_mnist:shared10k',
      description=__doc__.split('\n\n')[2].replace('\n', ' '),
      base={'data.path': opt['mnist']},
      axes=[Axis('model', {
          'goodfellow': {'train.num_steps': opt['goodfellow_steps']},
          'dcgan28': {'config': 'dcgan_mnist:shared10k',
                      'train.num_steps': opt['dcgan_steps']}})],
      metrics=[Metric('parzen_ll', 'parzen.log_likelihood', 'eval.json', 'max'),
               Metric('classifier_fd', 'classifier.frechet_distance', 'eval.json', 'min')],
      image='samples/step_*.png')
