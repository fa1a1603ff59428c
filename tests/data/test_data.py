"""Input pipelines: deterministic order, process split, sources, and their errors."""

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from jaxstyle import data
from jaxstyle.errors import ConfigError, ImageError


def write_idx(path, array):
  header = struct.pack('>HBB', 0, 0x08, array.ndim) + struct.pack(f'>{array.ndim}I', *array.shape)
  opener = gzip.open if str(path).endswith('.gz') else open
  with opener(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def identity(x):
  return np.asarray(x, np.float32)


def test_loader_order_is_a_function_of_seed_and_step():
  src = data.ArraySource(np.arange(10), 'ten')
  a = data.Loader(src, 4, 1, seed=3, transform=identity, prefetch=False)
  b = data.Loader(src, 4, 1, seed=3, transform=identity, prefetch=True)
  seq_a = [a.batch(s) for s in range(6)]
  seq_b = [b.batch(s) for s in range(6)]
  np.testing.assert_array_equal(np.stack(seq_a), np.stack(seq_b))
  # A loader asked for step 4 directly (a resumed run) gives what step 4 gave before.
  np.testing.assert_array_equal(data.Loader(src, 4, 1, 3, identity).batch(4), seq_a[4])
  # Each epoch is a permutation: positions 0..9 and 10..19 each cover all examples once.
  flat = np.concatenate([x.reshape(-1) for x in seq_a])
  assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
  assert not np.array_equal(flat[:10], flat[10:20])
  other = data.Loader(src, 4, 1, seed=4, transform=identity, prefetch=False)
  assert not np.array_equal(other.batch(0), seq_a[0])


def test_processes_read_disjoint_rows_of_the_same_global_batch():
  src = data.ArraySource(np.arange(100), 'hundred')
  whole = data.Loader(src, 8, 2, seed=0, transform=identity, prefetch=False)
  parts = [data.Loader(src, 8, 2, 0, identity, process_index=p, process_count=2, prefetch=False)
           for p in range(2)]
  for step in range(3):
    np.testing.assert_array_equal(np.concatenate([p.batch(step) for p in parts], axis=1),
                                  whole.batch(step))
  assert whole.batch(0).shape == (2, 8)


def test_mnist_idx_source_and_its_errors(tmp_path):
  images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28))
  write_idx(tmp_path / 't10k-images-idx3-ubyte.gz', images)
  src = data.mnist_idx(tmp_path, 'test')
  assert len(src) == 5 and src.get([3]).shape == (1, 28, 28, 1)
  np.testing.assert_array_equal(src.get([2])[0, ..., 0], images[2])
  x = data.preprocess(src.get([0, 1]), 28, 1, '[-1,1]')
  assert x.min() >= -1 and x.max() <= 1
  np.testing.assert_allclose(x[0, ..., 0], images[0] / 127.5 - 1, atol=1e-6)
  with pytest.raises(ImageError, match='no such file'):
    data.mnist_idx(tmp_path, 'train')
  (tmp_path / 'bad').mkdir()
  (tmp_path / 'bad' / 't10k-images-idx3-ubyte').write_bytes(b'\x00\x00\x08\x03\x00')
  with pytest.raises(ImageError, match='not a readable idx file'):
    data.mnist_idx(tmp_path / 'bad', 'test')
  with pytest.raises(ConfigError, match="unknown MNIST split"):
    data.mnist_idx(tmp_path, 'valid')


def test_subset_bounds():
  src = data.ArraySource(np.arange(10), 'ten')
  s = data.subset(src, '2:5')
  assert len(s) == 3 and list(s.get([0, 2])) == [2, 4]
  with pytest.raises(ConfigError, match='outside'):
    data.subset(src, '5:20')
  with pytest.raises(ConfigError, match="start:stop"):
    data.subset(src, 'five')


def test_image_folder(tmp_path):
  rng = np.random.default_rng(0)
  for i in range(3):
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f'{i}.png')
  (tmp_path / 'notes.txt').write_text('not an image')
  folder = data.ImageFolder(tmp_path)
  assert len(folder) == 3
  x = data.preprocess(folder.get([0, 2]), 32, 3, '[0,1]')
  assert x.shape == (2, 32, 32, 3) and 0 <= x.min() and x.max() <= 1
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(ImageError, match='holds no images'):
    data.ImageFolder(empty)
  with pytest.raises(ImageError, match='does not exist'):
    data.ImageFolder(tmp_path / 'missing')
  (tmp_path / '3.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
  folder = data.ImageFolder(tmp_path)
  with pytest.raises(ImageError, match=r'3\.png: cannot decode image'):
    folder.verify()
  with pytest.raises(ImageError, match=r'3\.png: cannot decode image.*on_bad_image=skip'):
    folder.get([3])


def test_mixture_training_set_is_seeded():
  a, b = data.sample_mixture('ring8', 1000, 0), data.sample_mixture('ring8', 1000, 0)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, data.sample_mixture('ring8', 1000, 1))
  with pytest.raises(ConfigError, match='unknown mixture'):
    data.sample_mixture('ring7', 10, 0)


def test_tfds_source_through_mock_data():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    src = data.TFDSSource('mnist', 'train', download=True)
    assert len(src) == 12
    x = data.preprocess(src.get([0, 5]), 28, 1, '[-1,1]')
  assert x.shape == (2, 28, 28, 1) and -1 <= x.min() and x.max() <= 1


def test_tfds_errors(tmp_path):
  pytest.importorskip('tensorflow_datasets')
  with pytest.raises(ConfigError, match="unknown TFDS dataset 'not_a_dataset'"):
    data.TFDSSource('not_a_dataset', 'train', data_dir=str(tmp_path))
  with pytest.raises(ConfigError, match=r"TFDS dataset 'mnist' is not prepared in .*"
                                        r"download_and_prepare"):
    data.TFDSSource('mnist', 'train', data_dir=str(tmp_path))
