"""Labels end to end: every labelled source, the loader's (examples, labels) batches, and
the one-line errors of sources without (consistent) classes."""

import numpy as np
import pytest
from PIL import Image

from jaxstyle import data
from jaxstyle.errors import ConfigError, ImageError
from tests.data.test_data import write_idx


def test_mnist_idx_labels_are_the_label_file(tmp_path):
  rng = np.random.default_rng(0)
  digits = rng.integers(0, 10, 30)
  write_idx(tmp_path / 't10k-images-idx3-ubyte.gz', rng.integers(0, 256, (30, 28, 28)))
  write_idx(tmp_path / 't10k-labels-idx1-ubyte', digits)
  src = data.mnist_idx(tmp_path, 'test')
  assert src.num_classes == 10 and src.class_names == [str(d) for d in range(10)]
  np.testing.assert_array_equal(src.labels([3, 0, 29]), digits[[3, 0, 29]])
  sub = data.subset(src, '10:20')
  np.testing.assert_array_equal(sub.labels([0, 9]), digits[[10, 19]])


def test_mnist_without_a_label_file_has_no_labels(tmp_path):
  write_idx(tmp_path / 't10k-images-idx3-ubyte', np.zeros((4, 28, 28)))
  src = data.mnist_idx(tmp_path, 'test')
  assert src.num_classes == 0
  with pytest.raises(ConfigError, match='has no class labels.*labelled source'):
    src.labels([0])
  with pytest.raises(ConfigError, match='has no class labels'):
    data.Loader(src, 2, 1, 0, lambda x: x, labels=True)


def test_a_bad_label_file_fails_only_runs_that_need_labels(tmp_path):
  write_idx(tmp_path / 't10k-images-idx3-ubyte', np.zeros((5, 28, 28)))
  write_idx(tmp_path / 't10k-labels-idx1-ubyte', np.array([1, 2, 3]))   # 3 labels, 5 images
  src = data.mnist_idx(tmp_path, 'test')
  assert len(src) == 5 and src.num_classes == 0    # unconditional runs still read it
  with pytest.raises(ImageError, match=r't10k-labels-idx1-ubyte: 3 labels for 5 images; '
                                       r're-download it'):
    data.Loader(data.subset(src, '0:5'), 5, 1, 0, lambda x: x, labels=True)


def test_shared_mnist_test_labels_match_the_known_first_digits():
  from pathlib import Path
  root = Path(__file__).resolve().parents[2].parent / 'shared' / 'data' / 'mnist'
  if not root.exists():
    pytest.skip(f'{root} is absent (the real MNIST test set lives only on the dev machines)')
  src = data.mnist_idx(root, 'test')
  # The first test digits of MNIST are 7, 2, 1, 0, 4, 1, 4, 9, 5, 9 (LeCun's t10k set).
  np.testing.assert_array_equal(src.labels(np.arange(10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
  assert np.bincount(src.labels(np.arange(len(src)))).tolist()[:2] == [980, 1135]


def test_mixture_labels_are_the_mode_each_point_was_drawn_from():
  src = data.mixture_source('grid25', 2000, seed=3)
  centers, std = data.mixture_centers('grid25')
  x, y = src.get(np.arange(2000)), src.labels(np.arange(2000))
  nearest = np.argmin(((x[:, None] - centers[None]) ** 2).sum(-1), 1)
  np.testing.assert_array_equal(nearest, y)   # modes 2 apart, std 0.05: no ambiguity
  assert src.num_classes == 25
  # The points are the unlabelled sampler's, so unconditional runs keep their data.
  np.testing.assert_array_equal(x, data.sample_mixture('grid25', 2000, seed=3))


def _image(path, value, size=8):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)


def test_image_folder_classes_are_sorted_subfolders(tmp_path):
  for cls, n in (('zebra', 2), ('cat', 3), ('dog', 1)):
    for i in range(n):
      _image(tmp_path / cls / ('deep' if i else '') / f'{i}.png', 10 * n + i)
  folder = data.ImageFolder(tmp_path, classes=True)
  assert folder.class_names == ['cat', 'dog', 'zebra'] and folder.num_classes == 3
  labels = folder.labels(np.arange(len(folder)))
  names = [folder.class_names[k] for k in labels]
  assert names == [p.relative_to(tmp_path).parts[0] for p in folder.paths]
  assert sorted(names) == ['cat'] * 3 + ['dog'] + ['zebra'] * 2
  # Without classes the same folder is one unlabelled pool of all six images.
  plain = data.ImageFolder(tmp_path)
  assert len(plain) == 6 and plain.num_classes == 0


def test_image_folder_class_errors(tmp_path):
  _image(tmp_path / 'a' / '0.png', 1)
  (tmp_path / 'b').mkdir()
  with pytest.raises(ImageError, match=r'class subfolder\(s\) b hold no images'):
    data.ImageFolder(tmp_path, classes=True)
  (tmp_path / 'b').rmdir()
  _image(tmp_path / 'loose.png', 2)
  with pytest.raises(ImageError, match='images outside class subfolders.*loose.png'):
    data.ImageFolder(tmp_path, classes=True)


def test_a_bad_image_is_replaced_from_its_own_class(tmp_path):
  for i in range(6):
    _image(tmp_path / 'a' / f'{i}.png', 50)
    _image(tmp_path / 'b' / f'{i}.png', 200)
  (tmp_path / 'b' / '0.png').write_bytes(b'not a png')
  folder = data.ImageFolder(tmp_path, classes=True, on_bad='skip')
  bad = folder.paths.index(tmp_path / 'b' / '0.png')
  with pytest.warns(UserWarning, match='skipping a bad image'):
    (img,) = folder.get([bad])
  assert folder.labels([bad])[0] == 1 and img.min() == 200   # a 'b' image, not an 'a'


def test_loader_labels_follow_their_examples_for_any_worker_count():
  src = data.mixture_source('ring8', 500, seed=0)
  transform = lambda p: np.asarray(p, np.float32)  # noqa: E731
  batches = []
  for workers, prefetch in ((1, 0), (3, 2)):
    loader = data.Loader(src, 12, 2, 7, transform, workers=workers, prefetch=prefetch,
                         labels=True)
    batches.append([loader.batch(s) for s in (0, 5, 41)])
    idx = loader.indices(5)
    loader.close()
  for (x1, y1), (x2, y2) in zip(*batches):
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
  x, y = batches[0][1]
  assert x.shape == (2, 12, 2) and y.shape == (2, 12) and y.dtype == np.int32
  np.testing.assert_array_equal(y, src.labels(idx.reshape(-1)).reshape(2, 12))
  # Two processes read the two halves of every global batch, labels included.
  halves = [data.Loader(src, 12, 2, 7, transform, p, 2, labels=True).batch(5) for p in (0, 1)]
  np.testing.assert_array_equal(np.concatenate([h[1] for h in halves], 1), y)


def test_labels_outside_the_classes_are_refused():
  src = data.ArraySource(np.zeros((4, 2), np.float32), 'toy', labels=[0, 1, 5, 1],
                         class_names=['a', 'b'])
  loader = data.Loader(src, 4, 1, 0, lambda p: p, labels=True, prefetch=0)
  with pytest.raises(ConfigError, match=r'example 2 has label 5, outside the 2 classes 0-1'):
    loader.batch(0)


def test_tfds_labels_through_mock_data():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    src = data.TFDSSource('mnist', 'train', download=True)
    assert src.num_classes == 10
    images, labels = src.get_labeled([0, 5, 7])
    np.testing.assert_array_equal(labels, src.labels([0, 5, 7]))
    np.testing.assert_array_equal(labels, [int(src.source[i]['label']) for i in (0, 5, 7)])
    assert len(images) == 3 and images[0].shape == (28, 28, 1)
