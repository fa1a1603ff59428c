"""SNGAN (Miyato et al. 2018) on CIFAR-10 from TFDS: the paper's ResNet and recipe.

G: z(128) -> dense 4x4x256 -> 3 ResBlock-up(256) -> BN, ReLU, conv3x3 -> 3, tanh;
D: OptimizedBlock(3 -> 128) -> ResBlock-down(128) -> 2 ResBlock(128) -> ReLU, global sum
pool -> SN dense, every layer spectrally normalised (``jaxstyle.gan.resnet``). Hinge loss,
Adam 2e-4 with betas (0, 0.9), n_dis 5 D updates per G update, batch 64, 50k generator
updates (the paper's appendix B.4). Published, unconditional: Inception Score 8.22 +- 0.05,
FID 21.7 +- 0.21 (50k samples). An accelerator job: 250k discriminator steps of a 1M
(D) / 4.3M (G) parameter ResNet. Evaluated with FID/KID, Inception Score, precision/recall
and density/coverage in Inception features (10k generated vs the 10k test images) when
``eval.inception_weights`` points at pt_inception-2015-12-05-6726825d.pth.
Variants: smoke, projection (cGAN: conditional BN in G, projection D), acgan, diffaug
(DiffAugment color,translation,cutout), ema, is50k (the paper's 50k samples).
"""

from experiments.configs import gan_common


def get_config(arg=None):
  """SNGAN ResNet-32 on CIFAR-10 (TFDS): 50k generator steps of batch 64, n_dis 5, hinge
  loss, Adam 2e-4 (0, 0.9); FID/KID/IS/PR/DC on the test set (needs
  ``eval.inception_weights``).

  ``arg``: comma-separated variants: 'smoke' (4 steps, small widths, no evaluation),
  'projection', 'acgan' (class-conditional on the 10 CIFAR-10 classes), 'diffaug'
  (DiffAugment color,translation,cutout), 'ema' (EMA of G, decay 0.9999 from step 1000),
  'is50k' (50k generated samples, the Inception Score protocol).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = gan_common.base()
  c.data.update(dict(kind='tfds', name='cifar10', split='train', image_size=32, channels=3,
                     range='[-1,1]'))
  c.model.update(dict(arch='sngan32', noise_dim=128, ngf=256, ndf=128, spectral_norm=True,
                      d_norm='none'))
  c.train.update(dict(num_steps=50_000, batch_size=64, loss='hinge', d_steps=5))
  for opt in (c.g_optimizer, c.d_optimizer):
    opt.lr, opt.b1, opt.b2 = 2e-4, 0.0, 0.9
  c.checkpoint.every = 5000
  c.log.every, c.log.sample_every, c.log.num_samples = 100, 2500, 100
  c.eval.update(dict(kind='fid', num_samples=10_000, num_real=10_000, test_subset='test'))

  def smoke(c):
    gan_common.smoke(c)
    c.model.ngf, c.model.ndf = 32, 32
    c.train.d_steps = 2
    c.eval.kind = 'none'

  def ema(c):
    c.train.ema_decay, c.train.ema_start = 0.9999, 1000

  return gan_common.apply_variants(c, arg, {
      'smoke': smoke, 'ema': ema,
      'projection': lambda c: setattr(c.model, 'conditioning', 'projection'),
      'acgan': lambda c: setattr(c.model, 'conditioning', 'acgan'),
      'diffaug': lambda c: setattr(c.train, 'augment', 'color,translation,cutout'),
      'is50k': lambda c: setattr(c.eval, 'num_samples', 50_000)})
