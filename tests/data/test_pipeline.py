"""The accelerator input pipeline: worker pool, uint8 batches normalised on the device,
lazy and sharded image checks, bad images stopped at or skipped deterministically."""

import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax import lax
from PIL import Image

from jaxstyle import data
from jaxstyle.errors import ConfigError, ImageError
from jaxstyle.runtime import parallel


def old_host_float(x_uint8, value_range):
  """The float conversion the host pipeline did before (loader.preprocess, RandomCrops)."""
  x = np.asarray(x_uint8).astype(np.float32) / 255.0
  return x * 2.0 - 1.0 if value_range == '[-1,1]' else x


@pytest.fixture
def jpegs(tmp_path):
  """12 small JPEGs of varied sizes (COCO-like: wider than tall, some portrait)."""
  rng = np.random.default_rng(0)
  folder = tmp_path / 'jpegs'
  folder.mkdir()
  for i in range(12):
    h, w = (24 + 2 * i, 36 - i) if i % 3 else (40, 22)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
        folder / f'{i:02d}.jpg', quality=90)
  return folder


def crop_reference(path, position, crop, resize, seed):
  """One random crop computed directly: PIL decode, PIL resize, numpy slice."""
  with Image.open(path) as im:
    im = im.convert('RGB')
    w, h = im.size
    if resize and min(h, w) != resize:
      s = resize / min(h, w)
      h, w = max(resize, round(h * s)), max(resize, round(w * s))
      im = im.resize((w, h), Image.BICUBIC)
    x = np.asarray(im)
  rng = np.random.default_rng([seed, position])
  y0, x0 = rng.integers(h - crop + 1), rng.integers(w - crop + 1)
  return x[y0:y0 + crop, x0:x0 + crop]


def test_worker_count_and_resume_do_not_change_batches(jpegs):
  folder = data.ImageFolder(jpegs)
  crops = data.RandomCrops(16, 20, seed=5)
  serial = data.Loader(folder, 4, 2, 5, crops, prefetch=0, workers=1)
  pooled = data.Loader(folder, 4, 2, 5, crops, prefetch=3, workers=3)
  steps = [serial.batch(s) for s in range(5)]
  assert steps[0].dtype == np.uint8 and steps[0].shape == (2, 4, 16, 16, 3)
  for s in range(5):
    np.testing.assert_array_equal(pooled.batch(s), steps[s])
  # A resumed run asks for step 3 first and gets what the uninterrupted one got.
  resumed = data.Loader(folder, 4, 2, 5, crops, prefetch=2, workers=2)
  np.testing.assert_array_equal(resumed.batch(3), steps[3])
  np.testing.assert_array_equal(resumed.batch(4), steps[4])
  # Two processes with two workers each read the rows of the same global batch.
  halves = [data.Loader(folder, 4, 2, 5, crops, p, 2, prefetch=1, workers=2) for p in range(2)]
  np.testing.assert_array_equal(np.concatenate([h.batch(2) for h in halves], 1), steps[2])
  # Each row is the crop of its example at its stream position, computed independently.
  idx, pos = serial.indices(1), serial.positions(1)
  for k, r in [(0, 0), (1, 3)]:
    np.testing.assert_array_equal(
        steps[1][k, r], crop_reference(folder.paths[idx[k, r]], pos[k, r], 16, 20, 5))
  for loader in (serial, pooled, resumed, *halves):
    loader.close()


def test_gan_folder_batches_are_uint8_and_match_the_old_float_pipeline(jpegs):
  c = ml_collections.ConfigDict(dict(kind='folder', path=str(jpegs), image_size=16, channels=3,
                                     range='[-1,1]', center_crop=0, workers=2, prefetch=1))
  source = data.source_from_config(c)
  loader = data.Loader(source, 6, 1, 0, data.loader_transform(c), **data.loader_options(c))
  x = loader.batch(0)
  loader.close()
  assert x.dtype == np.uint8 and x.shape == (1, 6, 16, 16, 3)
  ref = []
  for i in loader.indices(0)[0]:  # centre square, bicubic resize, as the float path did
    with Image.open(source.paths[i]) as im:
      w, h = im.size
      s = min(h, w)
      box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
      ref.append(np.asarray(im.convert('RGB').crop(box).resize((16, 16), Image.BICUBIC)))
  np.testing.assert_array_equal(x[0], np.stack(ref))
  # The host transform (evaluation, statistics) is the old float32 batch.
  np.testing.assert_allclose(data.transform_from_config(c)(source.get(loader.indices(0)[0])),
                             old_host_float(np.stack(ref), '[-1,1]'), rtol=0, atol=1e-7)


@pytest.mark.parametrize('value_range', ['[0,1]', '[-1,1]'])
def test_normalising_on_the_device_equals_the_old_host_floats(value_range):
  x = np.random.default_rng(1).integers(0, 256, (2, 8, 4, 4, 3), dtype=np.uint8)
  x[0, 0, 0, 0] = [0, 128, 255]
  expected = old_host_float(x, value_range)
  # XLA may fuse the scale and the shift (one rounding instead of two): float32 rounding of
  # the [-1, 1] scale, one unit in the last place at 1.0.
  eps = float(np.finfo(np.float32).eps)
  on_device = jax.jit(lambda b: data.normalize(b, value_range))(jax.device_put(x))
  assert on_device.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(on_device), expected, rtol=0, atol=eps)

  def step(state, batch):  # returns what the step saw: every device's rows, gathered
    return state, lax.all_gather(batch, parallel.AXIS, axis=1, tiled=True)

  for mode in parallel.MODES:
    dp = parallel.DataParallel(data.normalizing(step, value_range), mode, donate=False)
    _, seen = dp(dp.put_state(jnp.zeros(())), x)
    assert seen.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(seen), expected, rtol=0, atol=eps)
  # Float batches (2D mixture points) pass unchanged.
  points = np.random.default_rng(2).normal(size=(1, 8, 2)).astype(np.float32)
  dp = parallel.DataParallel(data.normalizing(step, value_range), 'pmap', donate=False)
  np.testing.assert_array_equal(np.asarray(dp(dp.put_state(jnp.zeros(())), points)[1]), points)
  with pytest.raises(ConfigError, match=r"data.range must be '\[0,1\]' or '\[-1,1\]'"):
    data.normalizing(step, '0..1')


def _with_bad_image(jpegs):
  (jpegs / '05.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
  return 5


def test_lazy_check_stops_at_the_bad_image_when_it_is_first_needed(jpegs):
  bad = _with_bad_image(jpegs)
  folder = data.ImageFolder(jpegs)  # opens nothing yet
  crops = data.RandomCrops(16, 20)
  loader = data.Loader(folder, 4, 1, 0, crops, prefetch=2, workers=2)
  first_use = next(s for s in range(3) if bad in loader.indices(s))
  for s in range(first_use):
    loader.batch(s)
  with pytest.raises(ImageError, match=r'05\.jpg: cannot decode image.*remove or replace it, '
                                       r'or set data\.on_bad_image=skip'):
    loader.batch(first_use)
  loader.close()


def test_skipped_image_gets_a_deterministic_substitute(jpegs):
  bad = _with_bad_image(jpegs)
  crops = data.RandomCrops(16, 20, seed=2)
  with pytest.warns(UserWarning, match=r'skipping a bad image.*05\.jpg'):
    folder = data.ImageFolder(jpegs, on_bad='skip', seed=2)
    one = data.Loader(folder, 12, 1, 2, crops, prefetch=0, workers=1)
    epoch = one.batch(0)  # 12 rows: every image once, the bad one included
  assert epoch.shape == (1, 12, 16, 16, 3)
  row = int(np.flatnonzero(one.indices(0)[0] == bad)[0])
  good = [j for j in range(12) if j != bad]
  position = int(one.positions(0)[0, row])
  # The bad row is the crop, at the bad row's position, of one of the good images.
  candidates = [crop_reference(folder.paths[j], position, 16, 20, 2) for j in good]
  assert any(np.array_equal(epoch[0, row], c) for c in candidates)
  # ... the same image on a fresh folder, with more workers, on two processes.
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    again = data.ImageFolder(jpegs, on_bad='skip', seed=2)
    pooled = data.Loader(again, 12, 1, 2, crops, prefetch=1, workers=3)
    np.testing.assert_array_equal(pooled.batch(0), epoch)
    halves = [data.Loader(data.ImageFolder(jpegs, on_bad='skip', seed=2), 12, 1, 2, crops,
                          p, 2, prefetch=0, workers=2) for p in range(2)]
    np.testing.assert_array_equal(np.concatenate([h.batch(0) for h in halves], 1), epoch)
  pooled.close()


def test_upfront_check_covers_only_this_process_share(jpegs):
  bad = _with_bad_image(jpegs)
  folder = data.ImageFolder(jpegs)
  assert folder.verify(process_index=1 - bad % 2, process_count=2, workers=2) == []
  with pytest.raises(ImageError, match=r'05\.jpg: cannot decode image.*on_bad_image=skip'):
    data.ImageFolder(jpegs).verify(process_index=bad % 2, process_count=2, workers=2)
  with pytest.warns(UserWarning, match=r'05\.jpg'):
    skipping = data.ImageFolder(jpegs, on_bad='skip')
    found = skipping.verify(workers=2)
  assert len(found) == 1 and '05.jpg' in found[0] and len(skipping) == 12


def test_too_small_and_all_bad_folders(tmp_path):
  for i in range(3):
    Image.fromarray(np.zeros((10 + i, 30, 3), np.uint8)).save(tmp_path / f'{i}.png')
  Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / 'big.png')
  folder = data.ImageFolder(tmp_path, min_side=16)
  with pytest.raises(ImageError, match=r'0\.png is 10x30 px, smaller than the 16 px crop'):
    folder.get([0])
  assert folder.get([3])[0].shape == (20, 30, 3)
  with pytest.warns(UserWarning, match='smaller than the 16 px crop'):
    skipping = data.ImageFolder(tmp_path, min_side=16, on_bad='skip')
    assert [im.shape for im in skipping.get([0, 1, 2])] == [(20, 30, 3)] * 3
  with pytest.warns(UserWarning), pytest.raises(ImageError, match='none of the 4 images'):
    data.ImageFolder(tmp_path, min_side=40, on_bad='skip').verify()
  with pytest.warns(UserWarning), pytest.raises(ImageError, match='images drawn to replace it'):
    data.ImageFolder(tmp_path, min_side=40, on_bad='skip').get([1])
  with pytest.raises(ConfigError, match="on_bad_image must be 'stop' or 'skip'"):
    data.ImageFolder(tmp_path, on_bad='ignore')


def test_verify_images_setting(jpegs):
  _with_bad_image(jpegs)
  def config(verify_images):
    return ml_collections.ConfigDict(dict(kind='folder', path=str(jpegs), channels=3, crop=16,
                                          resize=20, verify_images=verify_images, workers=2))

  assert len(data.source_from_config(config('lazy'))) == 12  # lazy: nothing decoded yet
  for upfront in ('upfront', True):  # True: configs written before lazy checks existed
    with pytest.raises(ImageError, match=r'05\.jpg'):
      data.source_from_config(config(upfront))
  assert data.verify_mode(False) == 'lazy'
  with pytest.raises(ConfigError, match="verify_images must be 'lazy' or 'upfront'"):
    data.source_from_config(config('sometimes'))
  assert data.loader_options(ml_collections.ConfigDict(dict(workers=0))) == {
      'workers': data.default_workers(), 'prefetch': 2}
  with pytest.raises(ConfigError, match='data.workers must be >= 1'):
    data.Loader(data.ArraySource(np.arange(4), 'four'), 2, 1, 0, np.asarray, workers=-1)


def test_tfds_source_in_workers():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    src = data.TFDSSource('mnist', 'train', download=True)
    to_uint8 = lambda images: data.preprocess_uint8(images, 28, 1)  # noqa: E731
    serial = data.Loader(src, 6, 1, 0, to_uint8, prefetch=0, workers=1)
    pooled = data.Loader(src, 6, 1, 0, to_uint8, prefetch=1, workers=3)
    for s in range(3):
      np.testing.assert_array_equal(pooled.batch(s), serial.batch(s))
    pooled.close()
    ref = np.stack([np.asarray(src.source[int(i)]['image']) for i in serial.indices(2)[0]])
    np.testing.assert_array_equal(serial.batch(2)[0], ref)
