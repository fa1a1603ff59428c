"""Ulyanov, Lebedev, Vedaldi & Lempitsky (2016), "Texture Networks": a feed-forward
generator from multi-scale noise, trained with the Gram loss of one texture.

    jaxstyle run texture_net \
        --workdir runs/NAME --config.style_image=PATH

Network as in the paper: noise at 6 scales, conv blocks (3x3, 3x3, 1x1) with batch norm
and LeakyReLU, joined coarse to fine by upsampling + normalisation + concatenation
(8, 16, ..., 48 channels), 1x1 conv to RGB. Loss: Gram matrices of VGG-19 relu1_1,
relu2_1, relu3_1, relu4_1, relu5_1 (Gatys et al. 2015). The optimiser settings here
(Adam 1e-2, batch 4) are this codebase's choice, not taken from the paper.

VARIANTS: cpu (128 px, 300 steps, HED's VGG-16), hed, smoke (tests).
"""

from experiments.configs import feedforward_common


def get_config(arg=None):
  """Ulyanov et al. 2016's texture network for ``style_image`` (The Starry Night by
  default): 6 noise scales, batch norm, VGG-19 Gram loss at relu1_1..relu5_1, 256 px
  outputs, 2000 steps of batch 4, Adam 1e-2.

  ``arg``: comma-separated variants: 'cpu' (128 px, 300 steps, HED's VGG-16), 'hed',
  'smoke' (4 steps, 3 scales, 32 px; tests).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = feedforward_common.base()
  c.weights = 'keras_vgg19'
  c.model = feedforward_common.ml_collections.ConfigDict(dict(
      kind='texture', num_scales=6, channels_per_scale=8, noise_channels=3, norm='batch'))
  c.style_image = 'starry_night'   # the texture to learn
  c.style_size = 256               # longer side of the texture image
  c.texture_size = 256             # training output side (a multiple of 2^(num_scales-1))
  c.loss = feedforward_common.ml_collections.ConfigDict(dict(
      content_layers='',
      style_layers='relu1_1,relu2_1,relu3_1,relu4_1,relu5_1',
      style_layer_weights='inv_channels_sq',
      content_weight=0.0, style_weight=1.0, tv_weight=0.0))
  c.train.num_steps = 2000
  c.train.batch_size = 4
  c.optimizer.lr = 1e-2

  def cpu(c):
    c.weights = 'hed_vgg16'
    c.loss.style_layers = 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1'
    c.texture_size = 128
    c.style_size = 128
    c.train.num_steps = 300
    c.checkpoint.every = 100
    c.log.every = 25
    c.log.sample_every = 100

  def hed(c):
    c.weights = 'hed_vgg16'

  def smoke(c):
    feedforward_common.smoke(c)
    c.model.num_scales = 3
    c.model.channels_per_scale = 4
    c.texture_size = 32
    c.style_size = 32
    c.loss.style_layers = 'relu1_1,relu2_1'

  return feedforward_common.apply_variants(c, arg, {'cpu': cpu, 'hed': hed, 'smoke': smoke})
