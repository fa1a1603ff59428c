"""Goodfellow et al. 2014, MNIST (goodfeli/adversarial mnist.yaml).

G: 100-d U[-sqrt3, sqrt3] noise -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid; D: maxout
240 x 5 -> maxout 240 x 5 -> sigmoid, dropout keep 0.8 (input) / 0.5. Data in [0, 1].
SGD, batch 100, lr 0.1 decayed by 1.000004 per update (floor 1e-6), momentum 0.5 -> 0.7
by epoch 250; D loss 1/2 [BCE(1, D(x)) + BCE(0, D(G(z)))], G the non-saturating loss,
both gradients from the same minibatch in one update (k = 1). The paper gives no
training length; ``num_steps`` is ours.

Data: the MNIST idx files in ``data.path`` (train-images-idx3-ubyte[.gz], t10k-...).
Default split as the paper: train[0:50000] to train, train[50000:60000] to pick the
Parzen sigma, the test set to score. Variants: smoke, shared10k (only the 10k test
images: train 0:8000, sigma on 8000:9000, score 9000:10000), tfds (TFDS 'mnist',
no evaluation).
"""

from experiments.configs import gan_common


def shared10k(c):
  """Variant: train and evaluate on the 10k MNIST test images only (train 0:8000,
  Parzen sigma on 8000:9000, score on 9000:10000) from ../shared/data/mnist.
  """
  c.data.path = '../shared/data/mnist'
  c.data.split, c.data.subset = 'test', '0:8000'
  c.eval.validation_subset = 'test:8000:9000'
  c.eval.test_subset = 'test:9000:10000'
  c.eval.classifier_subset = 'test:0:8000'


def tfds(c):
  """Variant: MNIST from TFDS ('mnist', train[:50000]) instead of idx files; no evaluation."""
  c.data.kind, c.data.name, c.data.split, c.data.subset = 'tfds', 'mnist', 'train[:50000]', ''
  c.eval.kind = 'none'


def smoke(c):
  """Variant: 4 steps (``gan_common.smoke``) and a 500-sample evaluation (tests)."""
  gan_common.smoke(c)
  c.eval.num_samples = 500


def get_config(arg=None):
  """Goodfellow et al. 2014's MNIST GAN (mnist.yaml): maxout D with dropout, pylearn2 SGD
  with decaying lr and rising momentum, simultaneous updates, 30k steps of batch 100;
  Parzen log-likelihood and classifier Fréchet distance on the test set.

  ``arg``: comma-separated variants: 'smoke', 'shared10k', 'tfds'.
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = gan_common.base()
  c.data.update(dict(kind='mnist_idx', path='data/mnist', split='train', subset='0:50000',
                     image_size=28, channels=1, range='[0,1]'))
  c.model.arch, c.model.noise_dim = 'goodfellow_mnist', 100
  c.train.update(dict(num_steps=30_000, batch_size=100, loss='non_saturating',
                      update_rule='simultaneous', d_loss_scale=0.5))
  sgd = dict(name='goodfellow_sgd', lr=0.1, lr_decay_factor=1.000004, min_lr=1e-6,
             momentum_start=0.5, momentum_end=0.7, momentum_saturate_steps=250 * 500)
  c.g_optimizer = gan_common.ml_collections.ConfigDict(sgd)
  c.d_optimizer = gan_common.ml_collections.ConfigDict(sgd)
  c.checkpoint.every = 5000
  c.log.every, c.log.sample_every, c.log.num_samples = 500, 5000, 100
  c.eval.update(dict(kind='mnist', num_samples=10_000, validation_subset='train:50000:60000',
                     test_subset='test:0:10000', classifier_subset='train:0:50000'))
  return gan_common.apply_variants(c, arg, {'smoke': smoke, 'shared10k': shared10k, 'tfds': tfds})
