"""FID Inception: weight-file reader, loader mapping, preprocessing, FID of its features."""

import collections
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg

from jaxstyle.errors import WeightsError
from jaxstyle.io import torch_pickle
from jaxstyle.metrics import frechet, inception


def random_state_dict(seed=0):
  """A pytorch-fid-named state dict with random weights of the right shapes."""
  template = jax.eval_shape(lambda: inception.InceptionV3().init(
      jax.random.key(0), jnp.zeros((1, 299, 299, 3))))['params']
  rng = np.random.default_rng(seed)
  sd = collections.OrderedDict()
  for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
    names = [p.key for p in path]
    prefix, param = '.'.join(names[:-2]), names[-1]
    if param == 'kernel':
      h, w, i, o = leaf.shape
      sd[f'{prefix}.conv.weight'] = rng.normal(0, np.sqrt(2 / (h * w * i)), (o, i, h, w))
    elif param == 'scale':
      n = leaf.shape[0]
      sd[f'{prefix}.bn.weight'] = rng.uniform(0.5, 1.5, n)
      sd[f'{prefix}.bn.running_mean'] = rng.normal(0, 0.1, n)
      sd[f'{prefix}.bn.running_var'] = rng.uniform(0.5, 2.0, n)
    else:
      sd[f'{prefix}.bn.bias'] = rng.normal(0, 0.1, leaf.shape)
  sd['fc.weight'] = rng.normal(size=(1008, 2048))
  sd['fc.bias'] = rng.normal(0, 0.1, 1008)
  return {k: v.astype(np.float32) for k, v in sd.items()}


@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
def test_torch_pickle_reads_both_torch_save_formats(tmp_path, zip_format):
  import torch
  sd = collections.OrderedDict(w=torch.randn(3, 4), t=torch.randn(4, 3).t(),
                               view=torch.randn(10)[2:6], i=torch.arange(5), s=torch.tensor(2.5))
  torch.save(sd, tmp_path / 'f.pth', _use_new_zipfile_serialization=zip_format)
  got = torch_pickle.load(tmp_path / 'f.pth')
  assert list(got) == list(sd)
  for k, v in sd.items():
    np.testing.assert_array_equal(got[k], v.numpy())


def test_torch_pickle_refuses_code(tmp_path):
  class Evil:
    def __reduce__(self):
      return (print, ('pwned',))
  path = tmp_path / 'evil.pth'
  with open(path, 'wb') as f:
    for obj in (torch_pickle.LEGACY_MAGIC, 1001, {}, Evil()):
      pickle.dump(obj, f)
  with pytest.raises(pickle.UnpicklingError, match='refusing to load builtins.print'):
    torch_pickle.load(path)


def test_loader_maps_pytorch_fid_names_and_layouts(tmp_path):
  import torch
  sd = random_state_dict()
  torch.save({k: torch.tensor(v) for k, v in sd.items()}, tmp_path / 'w.pth')
  v = inception.variables_from_state_dict(torch_pickle.load(tmp_path / 'w.pth'))
  np.testing.assert_array_equal(v['params']['Mixed_6b']['branch7x7_2']['conv']['kernel'],
                                sd['Mixed_6b.branch7x7_2.conv.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(v['batch_stats']['Conv2d_1a_3x3']['bn']['var'],
                                sd['Conv2d_1a_3x3.bn.running_var'])
  # The checksum pin rejects a file that is not the published one.
  with pytest.raises(WeightsError, match='SHA-256 does not start with 6726825d'):
    inception.load_variables(tmp_path / 'w.pth')
  with pytest.raises(WeightsError, match='do not exist'):
    inception.load_variables(tmp_path / 'missing.pth')
  del sd['Mixed_7c.branch_pool.conv.weight']
  with pytest.raises(WeightsError, match='lacks Mixed_7c.branch_pool.conv.weight'):
    inception.variables_from_state_dict(sd)


def test_first_block_is_conv_then_inference_batchnorm_then_relu():
  sd = random_state_dict(1)
  v = inception.variables_from_state_dict(sd)
  x = np.random.default_rng(0).uniform(-1, 1, (2, 9, 9, 3)).astype(np.float32)
  got = inception.BasicConv(32, (3, 3), stride=2).apply(
      {'params': v['params']['Conv2d_1a_3x3'], 'batch_stats': v['batch_stats']['Conv2d_1a_3x3']},
      jnp.asarray(x))
  w = sd['Conv2d_1a_3x3.conv.weight']  # (O, I, 3, 3), direct correlation in numpy
  ref = np.zeros((2, 4, 4, 32))
  for i in range(4):
    for j in range(4):
      ref[:, i, j] = np.einsum('bhwc,ochw->bo', x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3], w)
  g, b = sd['Conv2d_1a_3x3.bn.weight'], sd['Conv2d_1a_3x3.bn.bias']
  m, var = sd['Conv2d_1a_3x3.bn.running_mean'], sd['Conv2d_1a_3x3.bn.running_var']
  ref = np.maximum((ref - m) / np.sqrt(var + 1e-3) * g + b, 0)
  np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_resize_equals_pytorch_fid_interpolation():
  import torch
  x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
  ref = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2), size=(299, 299),
                                        mode='bilinear', align_corners=False)
  ref = 2 * ref.permute(0, 2, 3, 1).numpy() - 1
  np.testing.assert_allclose(inception.preprocess(x), ref, atol=1e-5)


@pytest.mark.filterwarnings('ignore::scipy.linalg.LinAlgWarning')  # 6 samples: rank-deficient
def test_features_and_fid_with_random_weights():
  v = inception.variables_from_state_dict(random_state_dict(2))
  rng = np.random.default_rng(0)
  a = rng.uniform(size=(6, 32, 32, 1)).astype(np.float32)   # grayscale is tiled to RGB
  b = np.clip(a + rng.normal(0, 0.3, a.shape), 0, 1).astype(np.float32)
  # One compiled shape (batch 6, as in the GAN FID smoke test): each image's features do
  # not depend on the others in its batch, and 8 images run as 6 + 2 padded to 6.
  fa, fb = inception.features(v, a, batch=6), inception.features(v, b, batch=6)
  assert fa.shape == (6, 2048) and np.isfinite(fa).all() and (fa >= 0).all()
  np.testing.assert_allclose(inception.features(v, a[::-1], batch=6), fa[::-1], rtol=1e-5,
                             atol=1e-6)
  eight = inception.features(v, np.concatenate([a, a[:2]]), batch=6)
  assert eight.shape == (8, 2048)
  np.testing.assert_allclose(eight, np.concatenate([fa, fa[:2]]), rtol=1e-5, atol=1e-6)
  assert inception._forward._cache_size() == 1
  mu1, mu2 = fa.mean(0), fb.mean(0)
  c1, c2 = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
  ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) \
      - 2 * np.trace(linalg.sqrtm(c1 @ c2).real)
  assert frechet.fid_from_features(fa, fb) == pytest.approx(ref, rel=1e-4, abs=1e-6)


def test_logits_are_pool3_times_the_fc_weights_in_one_pass(tmp_path):
  import torch
  sd = random_state_dict(3)
  torch.save({k: torch.tensor(v) for k, v in sd.items()}, tmp_path / 'w.pth')
  v = inception.variables_from_state_dict(torch_pickle.load(tmp_path / 'w.pth'))
  np.testing.assert_array_equal(v['params']['fc']['kernel'], sd['fc.weight'].T)
  np.testing.assert_array_equal(v['params']['fc']['bias'], sd['fc.bias'])
  # 75 px, the smallest input Inception takes, keeps the three compilations below cheap.
  images = np.random.default_rng(4).uniform(size=(3, 32, 32, 3)).astype(np.float32)
  f, logits = inception.features_and_logits(v, images, batch=3, size=75)
  assert f.shape == (3, 2048) and logits.shape == (3, 1008) and logits.dtype == np.float32
  # The features of the plain network (not inception._forward: its one-shape cache is
  # checked above), the logits as the IS code forms them: pool3 @ W, no bias.
  plain = jax.jit(inception.InceptionV3().apply)(
      v, inception.preprocess(inception.quantize_uint8(images), 75))
  np.testing.assert_allclose(f, plain, rtol=1e-5, atol=1e-6)
  w, b = sd['fc.weight'].astype(np.float64), sd['fc.bias'].astype(np.float64)
  np.testing.assert_allclose(logits, f.astype(np.float64) @ w.T, rtol=1e-5, atol=1e-3)
  biased = inception.logits(v, images, batch=3, size=75, fc_bias=True)
  np.testing.assert_allclose(biased, f.astype(np.float64) @ w.T + b, rtol=1e-5, atol=1e-3)
  # The Dense runs at HIGHEST precision, as the convolutions do.
  jaxpr = jax.make_jaxpr(inception.InceptionV3(logits=True, fc_bias=True).apply)(
      v, jnp.zeros((1, 75, 75, 3)))
  dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == 'dot_general']
  assert len(dots) == 1 and dots[0].params['precision'] == (jax.lax.Precision.HIGHEST,) * 2
  # Weights without the classifier still give features; logits say what is missing.
  for key in ('fc.weight', 'fc.bias'):
    del sd[key]
  v = inception.variables_from_state_dict(sd)
  assert 'fc' not in v['params'] and not inception.has_classifier(v)
  with pytest.raises(WeightsError, match='lack the 1008-way classifier .* of '
                                         'pt_inception-2015-12-05-6726825d.pth'):
    inception.logits(v, images, batch=3, size=75)


def test_sha256_prefix_pin(tmp_path):
  from jaxstyle.io import download
  path = tmp_path / 'f.bin'
  path.write_bytes(b'jaxstyle')
  digest = download.file_digest(path, 'sha256')
  assert download.verify(path, download.RemoteFile('f.bin', 'u', f'sha256-prefix:{digest[:8]}'))
  wrong = ('0' if digest[0] != '0' else '1') + digest[1:8]
  assert not download.verify(path, download.RemoteFile('f.bin', 'u', f'sha256-prefix:{wrong}'))
  assert inception.WEIGHTS.algorithm == 'sha256'


def test_fid_inputs_are_quantised_to_uint8_as_image_files_are():
  # torchvision's save_image, which writes the PNGs pytorch-fid reads: floor(x * 255 + 0.5)
  # clamped to 0..255, computed here by hand.
  x = np.array([0.0, 0.4 / 255, 0.6 / 255, 0.2, 1.0, 1.3, -0.2, 128.49 / 255], np.float32)
  np.testing.assert_array_equal(inception.quantize_uint8(x), [0, 0, 1, 51, 255, 255, 0, 128])
  v = inception.variables_from_state_dict(random_state_dict(2))
  rng = np.random.default_rng(3)
  # One compiled shape, as in test_features_and_fid_with_random_weights: 6 images 32x32x1.
  a = rng.integers(0, 256, (32, 32, 1)) / 255.0
  within = a + rng.uniform(-0.45, 0.45, a.shape) / 255.0   # less than half a step away
  across = a.copy()
  across[5, 7, 0] = (np.round(a[5, 7, 0] * 255) + 0.6) / 255.0 if a[5, 7, 0] < 1 else 254.4 / 255
  batch = np.stack([a, within, across, 1 - a, a[::-1], a[:, ::-1]]).astype(np.float32)
  f = inception.features(v, batch, batch=6)
  np.testing.assert_array_equal(f[1], f[0])   # the same uint8 image, the same features
  assert not np.array_equal(f[2], f[0])       # one pixel one level up: other features


def test_inception_and_parzen_ask_for_highest_precision():
  # So that a TPU (one bfloat16 pass for float32 by default) or TF32 GPU gives the float32
  # numbers of pytorch-fid and of the Parzen protocol.
  v = jax.eval_shape(lambda: inception.InceptionV3().init(jax.random.key(0),
                                                          jnp.zeros((1, 75, 75, 3))))
  jaxpr = jax.make_jaxpr(inception.InceptionV3().apply)(v, jnp.zeros((1, 75, 75, 3)))
  convs = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == 'conv_general_dilated']
  assert len(convs) == 94
  assert all(e.params['precision'] == (jax.lax.Precision.HIGHEST,) * 2 for e in convs)
  from jaxstyle.metrics import parzen
  text = str(jax.make_jaxpr(parzen._log_density)(jnp.zeros((3, 4)), jnp.zeros((5, 4)), 0.5))
  highest = re.findall(r'dot_general\[\s*dimension_numbers=[^\n]*\n\s*'
                       r'precision=\(Precision.HIGHEST, Precision.HIGHEST\)', text)
  assert text.count('dot_general[') == len(highest) == 1  # the distances, inside a map
