"""DCGAN-64 (Radford et al. 2015; the pytorch/examples network) on CelebA 64x64.

Data as compare_gan's dcgan_celeba64.gin: TFDS celeb_a, centre 160x160 crop, resized to
64x64, in [-1, 1]. G: z(100) -> 4x4x512 -> ... -> 64x64x3; batch 64; Adam 2e-4, b1 0.5;
100k steps; FID on 10k test images. An accelerator job. Variants: smoke.
"""

from experiments.configs import gan_common


def get_config(arg=None):
  """DCGAN-64 on CelebA 64x64 as compare_gan's dcgan_celeba64.gin: 100k steps, batch 64,
  Adam 2e-4/0.5, FID/KID on 10k test images (needs ``eval.inception_weights``).

  ``arg``: 'smoke' (4 steps, no evaluation; tests).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = gan_common.base()
  c.data.update(dict(kind='tfds', name='celeb_a', split='train', image_size=64, channels=3,
                     range='[-1,1]', center_crop=160))
  c.model.update(dict(arch='dcgan64', noise_dim=100, ngf=64, ndf=64))
  c.train.update(dict(num_steps=100_000, batch_size=64, loss='non_saturating'))
  c.checkpoint.every = 5000
  c.log.every, c.log.sample_every = 100, 2500
  c.eval.update(dict(kind='fid', num_samples=10_000, num_real=10_000, test_subset='test'))

  def smoke(c):
    gan_common.smoke(c)
    c.eval.kind = 'none'

  return gan_common.apply_variants(c, arg, {'smoke': smoke})
