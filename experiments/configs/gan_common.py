"""Defaults shared by the GAN configs; each config file overrides what its paper set."""

import ml_collections

from jaxstyle.runtime.config import apply_variants  # noqa: F401  (used by the GAN configs)


def base() -> ml_collections.ConfigDict:
  """Defaults of every GAN config: task 'gan', the PacGAN ring8 mixture and MLP, 1000
  steps of batch 64, non-saturating loss, Adam 2e-4/0.5 for G and D, checkpoints and
  samples every 1000 steps, no evaluation (``eval.kind='none'``). Each config file
  overrides data, model, training and evaluation for its paper.
  """
  c = ml_collections.ConfigDict()
  c.task = 'gan'
  c.seed = 0
  # 'float32', or 'bfloat16': mixed precision (bf16 activations, matmuls and convs;
  # float32 parameters, optimiser state, BatchNorm statistics, logits and losses).
  c.precision = 'float32'
  # Reproducibility (jaxstyle/runtime/determinism.py, docs/reproducibility.md): with
  # deterministic=True the XLA:CPU thread pool has cpu_threads threads whatever the cores
  # (the numbers are then the same on 1 core or 64) and GPUs use deterministic kernels.
  c.repro = ml_collections.ConfigDict(dict(deterministic=True, cpu_threads=2))

  c.data = ml_collections.ConfigDict(dict(
      kind='mixture',         # mixture | mnist_idx | folder | tfds
      name='ring8',           # mixture name or TFDS dataset name
      path='',                # mnist_idx / folder directory
      split='train',
      subset='',              # 'start:stop' rows of the split ('' = all)
      image_size=28, channels=1, range='[-1,1]', center_crop=0,
      num_train=100_000,      # mixtures: size of the fixed training set (PacGAN: 100k)
      seed=0,                 # mixtures: seed of the training set
      order_seed=0,           # example order (a function of this seed and the epoch)
      tfds_data_dir='', download=False,
      workers=0,              # decode threads (0: min(8, cores)); batches are the same for any
      prefetch=2,             # steps decoded ahead of the one training
      verify_images='lazy',   # folder: check each image when first decoded, or 'upfront':
                              # this process's share before training
      on_bad_image='stop'))   # folder: 'stop' at a corrupt image, or 'skip' it (a fixed
                              # substitute from the folder takes its place)

  c.model = ml_collections.ConfigDict(dict(
      arch='pacgan_mlp', noise_dim=2, spectral_norm=False, d_norm='batch', ngf=64, ndf=64,
      pack=1, sync_batchnorm=True,
      conv_impl='auto',       # DCGAN convs: auto (the backend's, kernels.select) | matmul | xla
      # none (unconditional) | projection (Miyato & Koyama 2018) | acgan (Odena et al. 2017);
      # conditional models read the data's labels (classes = the source's).
      conditioning='none'))

  c.train = ml_collections.ConfigDict(dict(
      num_steps=1000, batch_size=64, loss='non_saturating', gp_weight=0.0, d_steps=1,
      update_rule='alternating', d_loss_scale=1.0, ema_decay=0.0, ema_start=0,
      ac_weight=1.0,          # AC-GAN: weight of the class cross-entropy
      augment=''))            # DiffAugment policy, e.g. 'color,translation,cutout' ('' = off)

  adam = dict(name='adam', lr=2e-4, b1=0.5, b2=0.999)
  c.g_optimizer = ml_collections.ConfigDict(adam)
  c.d_optimizer = ml_collections.ConfigDict(adam)

  # mode: pmap | shard_map. stop_sync_every: with several processes, how often (steps)
  # they agree whether any was signalled (SIGTERM) and must stop and checkpoint.
  c.parallel = ml_collections.ConfigDict(dict(mode='pmap', stop_sync_every=10))
  c.checkpoint = ml_collections.ConfigDict(dict(every=1000, keep=3))
  c.log = ml_collections.ConfigDict(dict(every=100, sample_every=1000, num_samples=64,
                                         tensorboard=True))
  c.eval = ml_collections.ConfigDict(dict(
      kind='none', num_samples=2500,
      every=0,                # also evaluate every N steps into evals.jsonl (0: final only)
      validation_subset='', test_subset='', classifier_subset='',
      inception_weights='', num_real=10000, resize='bilinear',
      is_splits=10))          # Inception Score splits (Salimans et al. 2016)
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A few steps of the same pipeline, for tests and a first try."""
  c.train.num_steps = 4
  c.checkpoint.every = 2
  c.log.every = 2
  c.log.sample_every = 2
  c.log.num_samples = 16
  return c
