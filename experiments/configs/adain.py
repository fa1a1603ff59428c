"""Huang & Belongie (2017): arbitrary style transfer with adaptive instance normalisation.

    jaxstyle run adain --workdir runs/adain \
        --config.style_data.path=/data/wikiart

A frozen VGG-19 encoder up to relu4_1, AdaIN, and a decoder mirroring the encoder,
trained with the content loss against the AdaIN target and mean/std style losses at
relu1_1..relu4_1. Defaults from xunhuang1995/AdaIN-style and naoto0804/pytorch-AdaIN:
content COCO (TFDS coco/2017), styles WikiArt (an image folder: WikiArt is not in TFDS),
images resized to 512 then cropped to 256, batch 8, Adam 1e-4 with lr / (1 + 5e-5 t),
160 000 steps, content weight 1, style weight 10.

VARIANTS: folder (content from --config.data.path too), hed, smoke (tests).
"""

from experiments.configs import feedforward_common


def get_config(arg=None):
  """The AdaIN config (Huang & Belongie 2017; the authors' code's defaults as listed above):
  VGG-19, COCO content, WikiArt styles from ``--config.style_data.path``, 160k steps.

  ``arg``: comma-separated variants: 'folder' (content from ``--config.data.path``), 'hed'
  (HED's VGG-16, no download), 'smoke' (4 steps, 32 px crops, tiny decoder; tests).
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = feedforward_common.base()
  c.weights = 'keras_vgg19'
  c.model = feedforward_common.ml_collections.ConfigDict(dict(
      kind='adain', widths='256,128,64',
      conv_impl='auto'))   # decoder convs when stylising: auto | kn2row | xla (kernels.select)
  c.data = feedforward_common.image_data('tfds', 'coco/2017', crop=256, resize=512)
  c.style_data = feedforward_common.image_data('folder', '', crop=256, resize=512)
  c.style_data.order_seed = 1
  c.loss = feedforward_common.ml_collections.ConfigDict(dict(content_weight=1.0, style_weight=10.0))
  c.train.num_steps = 160_000
  c.train.batch_size = 8
  c.optimizer.lr = 1e-4
  c.optimizer.decay = 5e-5

  def hed(c):
    c.weights = 'hed_vgg16'

  def smoke(c):
    feedforward_common.smoke(c)
    c.model.widths = '16,8,8'
    for d in (c.data, c.style_data):
      d.crop = 32
      d.resize = 40

  return feedforward_common.apply_variants(c, arg, {
      'folder': feedforward_common.local_folder, 'hed': hed, 'smoke': smoke})
