"""Defaults shared by the feed-forward network configs (johnson, texture_net, adain)."""

import ml_collections

from jaxstyle.runtime.config import apply_variants  # noqa: F401  (used by the configs)


def image_data(kind='tfds', name='coco/2017', crop=256, resize=256) -> ml_collections.ConfigDict:
  """Random crops from a TFDS image dataset or a local image folder."""
  return ml_collections.ConfigDict(dict(
      kind=kind,              # tfds | folder
      name=name,              # TFDS dataset name
      split='train',
      path='',                # folder: directory of images (searched recursively)
      subset='',              # 'start:stop' rows of the split ('' = all)
      crop=crop,              # square random crop side
      resize=resize,          # shorter side scaled to this before cropping (0 = never)
      order_seed=0,           # example order and crop positions
      tfds_data_dir='', download=False,
      channels=3, image_size=0, range='[0,1]',
      workers=0,              # decode threads (0: min(8, cores)); batches are the same for any
      prefetch=2,             # steps decoded ahead of the one training
      verify_images='lazy',   # folder: check (decode, size) each image when first used, or
                              # 'upfront': this process's share before training
      on_bad_image='stop'))   # folder: 'stop' at a corrupt/too small image, or 'skip' it (a
                              # fixed substitute from the folder takes its place)


def base() -> ml_collections.ConfigDict:
  """Defaults of every feed-forward config: task 'feedforward', VGG-16 (Keras) loss
  network, COCO 256 px crops, 40k steps of batch 4, Adam 1e-3, checkpoints every 1000
  steps, previews every 1000. The config files set ``model``, ``loss`` and what differs.
  """
  c = ml_collections.ConfigDict()
  c.task = 'feedforward'
  c.seed = 0
  c.weights = 'keras_vgg16'   # frozen loss network: keras_vgg16 | keras_vgg19 | hed_vgg16
  c.weights_path = ''
  c.weights_verify = True
  # The loss network's 3x3 convs: 'auto' = the backend's default (Winograd + custom-VJP
  # input gradients on CPU, XLA's on GPU/TPU), or force 'winograd' | 'xla'.
  c.vgg_conv_impl = 'auto'
  # 'float32', or 'bfloat16': mixed precision (bf16 activations and convs; float32
  # parameters, Adam state and losses).
  c.precision = 'float32'
  # Reproducibility (jaxstyle/runtime/determinism.py, docs/reproducibility.md): with
  # deterministic=True the XLA:CPU thread pool has cpu_threads threads whatever the cores
  # (the numbers are then the same on 1 core or 64) and GPUs use deterministic kernels.
  c.repro = ml_collections.ConfigDict(dict(deterministic=True, cpu_threads=2))
  c.data = image_data()
  c.train = ml_collections.ConfigDict(dict(num_steps=40_000, batch_size=4))
  c.optimizer = ml_collections.ConfigDict(dict(name='adam', lr=1e-3, b1=0.9, b2=0.999,
                                               decay=0.0))
  # mode: pmap | shard_map. stop_sync_every: with several processes, how often (steps)
  # they agree whether any was signalled (SIGTERM) and must stop and checkpoint.
  c.parallel = ml_collections.ConfigDict(dict(mode='pmap', stop_sync_every=10))
  c.checkpoint = ml_collections.ConfigDict(dict(every=1000, keep=3))
  c.log = ml_collections.ConfigDict(dict(
      every=50, sample_every=1000, tensorboard=True,
      preview_images='',      # comma-separated validation images ('' = dataset centre crops)
      num_preview=4, preview_size=256))
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps at a tiny size on the offline backbone (tests, a first try)."""
  c.weights = 'hed_vgg16'
  c.train.num_steps = 4
  c.train.batch_size = 8
  c.checkpoint.every = 2
  c.log.every = 2
  c.log.sample_every = 2
  c.log.num_preview = 2
  c.log.preview_size = 32
  c.log.tensorboard = False
  return c


def local_folder(c: ml_collections.ConfigDict, path: str = '') -> ml_collections.ConfigDict:
  """Content images from a local folder (set --config.data.path)."""
  c.data.kind = 'folder'
  c.data.path = path
  return c
