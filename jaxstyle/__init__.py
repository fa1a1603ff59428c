"""jaxstyle: reproducible neural style transfer and image generation in JAX/Flax.

Subpackages, each named after what a researcher looks for:

``gatys``        Gatys et al. image optimisation: ``transfer`` (Stylizer, multi-scale
                 pipeline, colour and spatial control), ``lbfgs``, ``normalize`` (the
                 normalised VGG), ``task`` (one run into a run directory)
``perceptual``   VGG-16/19 feature extractor, pretrained weight sources, content / style /
                 total-variation losses, colour transfer
``gan``          GAN networks, losses, the per-device train step, evaluation of a
                 generator (mode coverage, Parzen, FID/KID), ``task``
``feedforward``  Johnson / Ulyanov / AdaIN networks, their training step, applying them to
                 images of any size, model files, ``task``
``metrics``      pure estimators: Fréchet distance / KID, Parzen windows, mode coverage,
                 the Inception-v3 network, the MNIST classifier
``data``         random-access sources (TFDS, folders, MNIST idx, 2D mixtures) and the
                 stateless loader whose batch is a pure function of (seed, step, process)
``runtime``      configs, the run directory, the training loop, data parallelism (pmap /
                 shard_map), checkpoints, Ctrl-C / SIGTERM handling
``kernels``      hardware-specific formulations of convolutions, each tested against
                 XLA's plain one
``sweeps``       sweep files, cell claims, the runner and the report
``io``           atomic files, downloads with checksums, images, figures, a torch-free
                 reader of PyTorch checkpoints

``jaxstyle.cli`` is the ``jaxstyle`` command. The experiments layer (configs, sweep files,
figure scripts) lives in the separate top-level package ``experiments``; the library never
imports it.
"""

import importlib.metadata

try:
  __version__ = importlib.metadata.version('jaxstyle')
except importlib.metadata.PackageNotFoundError:  # a checkout that was never installed
  __version__ = 'unknown'
