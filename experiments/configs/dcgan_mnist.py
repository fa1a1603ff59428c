"""DCGAN-28 (Radford et al. 2015 guidelines at 28 px) on MNIST in [-1, 1].

G: z(100) -> 7x7x128 -> 14x14x64 -> 28x28x1 tanh; D mirrors it with LeakyReLU 0.2;
BatchNorm except G output / D input; N(0, 0.02) init; Adam 2e-4, b1 0.5; batch 128
(the paper's minibatch). The DCGAN paper publishes no MNIST metric: evaluation is
Parzen log-likelihood and the classifier Fréchet distance (see goodfellow_mnist for the
data splits). Variants: smoke, shared10k, tfds, ema (EMA of G, decay 0.999), and the
class-conditional projection (conditional BatchNorm in G, projection D; Miyato & Koyama
2018) and acgan (conditional BatchNorm in G, auxiliary classifier in D; Odena et al. 2017).
"""

from experiments.configs import gan_common, goodfellow_mnist


def get_config(arg=None):
  """DCGAN-28 on MNIST idx files in ``data.path`` (train[0:50000], [-1, 1]): 10k steps,
  batch 128, Adam 2e-4/0.5; evaluated with Parzen log-likelihood and the classifier
  Fréchet distance.

  ``arg``: comma-separated variants: 'smoke', 'shared10k' and 'tfds' (as in
  goodfellow_mnist), 'ema' (EMA of G's weights, decay 0.999), 'projection' and 'acgan'
  (class-conditional on the digit labels).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = gan_common.base()
  c.data.update(dict(kind='mnist_idx', path='data/mnist', split='train', subset='0:50000',
                     image_size=28, channels=1, range='[-1,1]'))
  c.model.update(dict(arch='dcgan28', noise_dim=100, ngf=64, ndf=64))
  c.train.update(dict(num_steps=10_000, batch_size=128, loss='non_saturating'))
  c.checkpoint.every = 1000
  c.log.every, c.log.sample_every, c.log.num_samples = 100, 1000, 64
  c.eval.update(dict(kind='mnist', num_samples=10_000, validation_subset='train:50000:60000',
                     test_subset='test:0:10000', classifier_subset='train:0:50000'))
  return gan_common.apply_variants(c, arg, {
      'smoke': goodfellow_mnist.smoke, 'shared10k': goodfellow_mnist.shared10k,
      'tfds': goodfellow_mnist.tfds,
      'ema': lambda c: setattr(c.train, 'ema_decay', 0.999),
      'projection': lambda c: setattr(c.model, 'conditioning', 'projection'),
      'acgan': lambda c: setattr(c.model, 'conditioning', 'acgan')})
