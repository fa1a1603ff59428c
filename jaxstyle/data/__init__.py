"""Data: random-access sources and the deterministic, stateless batch loader.

``sources``  2D Gaussian mixtures, MNIST idx files, image folders, TFDS datasets, subsets
``loader``   decoding transforms, random crops, ``Loader.batch(step)`` (a pure function of
             seed, step and process index)

The public names of both are re-exported here: ``data.Loader``, ``data.ImageFolder``, ...
"""

from jaxstyle.data.loader import Loader, RandomCrops, data_shape, preprocess, transform_from_config
from jaxstyle.data.sources import (
                                  IMAGE_SUFFIXES,
                                  ArraySource,
                                  ImageFolder,
                                  Subset,
                                  TFDSSource,
                                  mixture_centers,
                                  mnist_idx,
                                  read_idx,
                                  sample_mixture,
                                  source_from_config,
                                  subset,
)

__all__ = ['IMAGE_SUFFIXES', 'ArraySource', 'ImageFolder', 'Loader', 'RandomCrops', 'Subset',
           'TFDSSource', 'data_shape', 'mixture_centers', 'mnist_idx', 'preprocess', 'read_idx',
           'sample_mixture', 'source_from_config', 'subset', 'transform_from_config']
