"""jaxstyle: reproducible neural style transfer and image generation in JAX/Flax.

Modules: ``vgg`` (feature extractor), ``weights`` (pretrained weight sources),
``losses``, ``stylize`` (Gatys et al. image optimisation), ``lbfgs``, ``images``,
``download``, ``run_info``, ``logging``, ``fileio``, ``errors``.
"""

__version__ = '0.1.0'
