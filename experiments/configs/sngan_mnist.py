"""SNGAN's ResNets (Miyato et al. 2018) at 28 px on MNIST, unconditional or class-conditional.

G: z(128) -> dense 7x7xch -> 2 ResBlock-up -> BN, ReLU, conv3x3 -> 1, tanh; D: OptimizedBlock
(down) -> ResBlock-down -> 2 ResBlocks -> ReLU, global sum pool -> SN dense (every layer
spectrally normalised); ``jaxstyle.gan.resnet`` states every layer. The paper's CIFAR-10
recipe (hinge loss, Adam 2e-4 with betas (0, 0.9)) at a CPU budget: base widths 16 (G)
and 16 (D) instead of 256/128, 2 D updates per G update instead of 5. (XLA:CPU's 3x3
convolution weight gradient is slow at 32+ channels: on the 2-core VM one step of batch 64
took about 2 s at widths 16 and 12 s at 32; on a GPU use ``paper``.) Data and evaluation
as dcgan_mnist (Parzen, classifier FD, precision/recall, density/coverage, and for the
conditional variants the classifier's per-class accuracy and intra-class FD).
Variants: smoke, shared10k, projection, acgan, paper (widths 256/128, n_dis 5), diffaug.
"""

from experiments.configs import gan_common, goodfellow_mnist


def get_config(arg=None):
  """SNGAN ResNet-28 (widths 16) on MNIST idx files in ``data.path`` (train[0:50000],
  [-1, 1]): 5k generator steps of batch 64, hinge loss, Adam 2e-4 (0, 0.9), 2 D steps
  per G step.

  ``arg``: comma-separated variants: 'smoke', 'shared10k' and 'tfds' (as in
  goodfellow_mnist), 'projection' (conditional BatchNorm in G, projection D), 'acgan'
  (conditional BatchNorm in G, auxiliary classifier in D), 'paper' (the paper's widths
  256/128 and n_dis 5), 'diffaug' (DiffAugment translation,cutout).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = gan_common.base()
  c.data.update(dict(kind='mnist_idx', path='data/mnist', split='train', subset='0:50000',
                     image_size=28, channels=1, range='[-1,1]'))
  c.model.update(dict(arch='sngan28', noise_dim=128, ngf=16, ndf=16, spectral_norm=True,
                      d_norm='none'))
  c.train.update(dict(num_steps=5000, batch_size=64, loss='hinge', d_steps=2))
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.lr, opt.b1, opt.b2 = 2e-4, 0.0, 0.9
  c.checkpoint.every = 1000
  c.log.every, c.log.sample_every, c.log.num_samples = 100, 1000, 100
  c.eval.update(dict(kind='mnist', num_samples=10_000, validation_subset='train:50000:60000',
                     test_subset='test:0:10000', classifier_subset='train:0:50000'))

  def paper(c):
    c.model.ngf, c.model.ndf, c.train.d_steps = 256, 128, 5

  return gan_common.apply_variants(c, arg, {
      'smoke': goodfellow_mnist.smoke, 'shared10k': goodfellow_mnist.shared10k,
      'tfds': goodfellow_mnist.tfds, 'paper': paper,
      'projection': lambda c: setattr(c.model, 'conditioning', 'projection'),
      'acgan': lambda c: setattr(c.model, 'conditioning', 'acgan'),
      'diffaug': lambda c: setattr(c.train, 'augment', 'translation,cutout')})
