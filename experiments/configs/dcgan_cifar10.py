"""DCGAN-32 (Radford et al. 2015 guidelines at 32 px) on CIFAR-10 from TFDS.

G: z(100) -> 4x4x256 -> 8x8x128 -> 16x16x64 -> 32x32x3 tanh; D mirrors it. Adam 2e-4,
b1 0.5, batch 64, non-saturating loss. Evaluated with FID/KID (10k generated vs the
10k test images, pytorch-fid Inception weights, bilinear resize to 299) when
``eval.inception_weights`` points at pt_inception-2015-12-05-6726825d.pth.
An accelerator job: 100k steps. Variants: smoke (synthetic images via folder or mock
data in tests), sn (spectral norm in D, no BatchNorm), hinge, wgan_gp.
"""

from experiments.configs import gan_common


def get_config(arg=None):
  """DCGAN-32 on CIFAR-10 (TFDS): 100k steps, batch 64, Adam 2e-4/0.5, non-saturating
  loss, FID/KID on the 10k test images (needs ``eval.inception_weights``).

  ``arg``: comma-separated variants: 'smoke' (4 steps, no evaluation), 'sn' (spectral norm
  in D instead of BatchNorm), 'hinge' (hinge loss), 'wgan_gp' (WGAN-GP: lambda 10, 5 D
  steps, Adam 1e-4 (0, 0.9), no BatchNorm in D).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = gan_common.base()
  c.data.update(dict(kind='tfds', name='cifar10', split='train', image_size=32, channels=3,
                     range='[-1,1]'))
  c.model.update(dict(arch='dcgan32', noise_dim=100, ngf=64, ndf=64))
  c.train.update(dict(num_steps=100_000, batch_size=64, loss='non_saturating'))
  c.checkpoint.every = 5000
  c.log.every, c.log.sample_every = 100, 2500
  c.eval.update(dict(kind='fid', num_samples=10_000, num_real=10_000, test_subset='test'))

  def sn(c):
    c.model.spectral_norm, c.model.d_norm = True, 'none'

  def wgan_gp(c):
    c.model.d_norm = 'none'
    c.train.update(dict(loss='wasserstein', gp_weight=10.0, d_steps=5))
    for opt in (c.g_optimizer, c.d_optimizer):
      opt.lr, opt.b1, opt.b2 = 1e-4, 0.0, 0.9

  def smoke(c):
    gan_common.smoke(c)
    c.eval.kind = 'none'

  return gan_common.apply_variants(c, arg, {
      'smoke': smoke, 'sn': sn, 'wgan_gp': wgan_gp,
      'hinge': lambda c: setattr(c.train, 'loss', 'hinge')})
