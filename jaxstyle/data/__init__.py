"""Data: random-access sources, per-example transforms and the deterministic loader.

``sources``     2D Gaussian mixtures, MNIST idx files, image folders (checked lazily or
                upfront, bad images stopped at or skipped), TFDS datasets, subsets
``transforms``  decoded images -> uint8 batches (resize, centre and random crops), and
                ``normalize`` / ``normalizing``: uint8 -> the model's value range, on device
``loader``      ``Loader.batch(step)`` (a pure function of seed, step and process index),
                decoded by a pool of worker threads with steps prefetched

The public names of all three are re-exported here: ``data.Loader``, ``data.ImageFolder``, ...
"""

from jaxstyle.data.loader import Loader, default_workers, loader_options
from jaxstyle.data.sources import (
                                  IMAGE_SUFFIXES,
                                  ArraySource,
                                  ImageFolder,
                                  Subset,
                                  TFDSSource,
                                  check_same_classes,
                                  mixture_centers,
                                  mixture_source,
                                  mnist_idx,
                                  read_idx,
                                  sample_mixture,
                                  source_from_config,
                                  subset,
                                  verify_mode,
)
from jaxstyle.data.transforms import (
                                     RandomCrops,
                                     check_range,
                                     data_shape,
                                     loader_transform,
                                     normalize,
                                     normalizing,
                                     preprocess,
                                     preprocess_uint8,
                                     transform_from_config,
)

__all__ = ['IMAGE_SUFFIXES', 'ArraySource', 'ImageFolder', 'Loader', 'RandomCrops', 'Subset',
           'TFDSSource', 'check_range', 'check_same_classes', 'data_shape', 'default_workers', 'loader_options',
           'loader_transform', 'mixture_centers', 'mixture_source', 'mnist_idx', 'normalize', 'normalizing',
           'preprocess', 'preprocess_uint8', 'read_idx', 'sample_mixture', 'source_from_config',
           'subset', 'transform_from_config', 'verify_mode']
