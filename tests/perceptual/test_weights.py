"""Weight files: layouts, checksums, architecture checks, and the download path."""

import dataclasses
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from jaxstyle.errors import DownloadError, WeightsError
from jaxstyle.io import download
from jaxstyle.perceptual import vgg, weights
from tests.conftest import random_convs, write_keras2, write_keras3_hed


def _md5(path):
  return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _assert_params_equal(params, convs):
  for name, (kernel, bias) in convs.items():
    np.testing.assert_array_equal(params[name + '_kernel'], kernel)
    np.testing.assert_array_equal(params[name + '_bias'], bias)


def test_keras2_layout_round_trip(tmp_path, monkeypatch):
  convs = random_convs('vgg19', seed=4)
  path = write_keras2(tmp_path / 'vgg19_notop.h5', convs)
  source = dataclasses.replace(weights.SOURCES['keras_vgg19'], remote=dataclasses.replace(
      weights.SOURCES['keras_vgg19'].remote, checksum='md5:' + _md5(path)))
  monkeypatch.setitem(weights.SOURCES, 'keras_vgg19', source)
  loaded = weights.load('keras_vgg19', str(path))
  assert loaded.arch == 'vgg19' and loaded.preprocessing.mean_bgr == weights.CAFFE_MEAN_BGR
  _assert_params_equal(loaded.params, convs)


def test_keras3_hed_layout_round_trip(tmp_path):
  convs = random_convs('vgg16', seed=5)
  path = write_keras3_hed(tmp_path / 'hed.weights.h5', convs)
  loaded = weights.load('hed_vgg16', str(path), verify=False)
  assert loaded.preprocessing.mean_bgr == weights.HED_MEAN_BGR
  _assert_params_equal(loaded.params, convs)


def test_checksum_mismatch_is_refused(tmp_path):
  path = write_keras3_hed(tmp_path / 'hed.weights.h5', random_convs('vgg16'))
  with pytest.raises(WeightsError, match='sha256.*4502df9d.*weights_verify'):
    weights.load('hed_vgg16', str(path))


def test_wrong_architecture_is_refused(tmp_path):
  path = write_keras2(tmp_path / 'vgg16.h5', random_convs('vgg16'))
  with pytest.raises(WeightsError, match='no layer conv3_4.*13'):
    weights.load('keras_vgg19', str(path), verify=False)
  convs = random_convs('vgg16')
  convs['conv2_1'] = (np.zeros((3, 3, 64, 64), np.float32), np.zeros(64, np.float32))
  path = write_keras2(tmp_path / 'bad_shape.h5', convs)
  with pytest.raises(WeightsError, match='conv2_1.*wrong architecture'):
    weights.load('keras_vgg16', str(path), verify=False)


def test_corrupt_and_missing_files(tmp_path):
  bad = tmp_path / 'not.h5'
  bad.write_bytes(b'this is not hdf5' * 100)
  with pytest.raises(WeightsError, match='not a readable HDF5'):
    weights.load('keras_vgg16', str(bad), verify=False)
  with pytest.raises(WeightsError, match='does not exist'):
    weights.load('keras_vgg16', str(tmp_path / 'absent.h5'))
  with pytest.raises(WeightsError, match='unknown weights'):
    weights.load('vgg99')


def test_real_hed_file(hed_installed):
  loaded = weights.load('hed_vgg16')  # verifies the pinned sha256
  assert loaded.arch == 'vgg16'
  assert set(loaded.params) == {f'{n}_{k}' for n in vgg.conv_names('vgg16') for k in ('kernel', 'bias')}
  assert loaded.params['conv5_3_kernel'].shape == (3, 3, 512, 512)


# -- downloads against a local HTTP server -------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
  payload = b''
  truncate_at = None

  def do_GET(self):  # noqa: N802
    self.send_response(200)
    self.send_header('Content-Length', str(len(self.payload)))
    self.end_headers()
    body = self.payload if self.truncate_at is None else self.payload[:self.truncate_at]
    self.wfile.write(body)
    self.wfile.flush()
    if self.truncate_at is not None:
      self.close_connection = True

  def log_message(self, *args):
    pass


@pytest.fixture
def server():
  handler = type('Handler', (_Handler,), {})
  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield handler, f'http://127.0.0.1:{httpd.server_address[1]}/file.bin'
  httpd.shutdown()
  httpd.server_close()


def _remote(url, payload, algorithm='sha256'):
  return download.RemoteFile('file.bin', url, f'{algorithm}:{hashlib.new(algorithm, payload).hexdigest()}')


def test_download_good_file_is_cached_once(server, tmp_path):
  handler, url = server
  handler.payload = np.random.default_rng(0).bytes(3 << 20)
  remote = _remote(url, handler.payload, 'md5')
  path = download.fetch(remote, cache=tmp_path)
  assert path.read_bytes() == handler.payload
  handler.payload = b'changed on the server'
  assert download.fetch(remote, cache=tmp_path).read_bytes() != handler.payload  # from cache
  assert sorted(p.name for p in tmp_path.iterdir()) == ['file.bin']


def test_download_wrong_checksum_leaves_nothing(server, tmp_path):
  handler, url = server
  handler.payload = b'x' * 1000
  remote = _remote(url, b'something else')
  with pytest.raises(DownloadError, match='expected .*discarded'):
    download.fetch(remote, cache=tmp_path)
  assert list(tmp_path.iterdir()) == []


def test_download_dropped_midway_leaves_nothing(server, tmp_path):
  handler, url = server
  handler.payload = np.random.default_rng(1).bytes(2 << 20)
  handler.truncate_at = 300_000
  with pytest.raises(DownloadError, match='interrupted'):
    download.fetch(_remote(url, handler.payload), cache=tmp_path)
  assert list(tmp_path.iterdir()) == []


def test_corrupted_cache_entry_is_fetched_again(server, tmp_path):
  handler, url = server
  handler.payload = b'good bytes' * 100
  remote = _remote(url, handler.payload)
  (tmp_path / 'file.bin').write_bytes(b'truncated')
  assert download.fetch(remote, cache=tmp_path).read_bytes() == handler.payload


def test_offline_error_names_file_checksum_and_config_key(monkeypatch):
  import socket
  s = socket.socket()
  s.bind(('127.0.0.1', 0))
  port = s.getsockname()[1]
  s.close()  # nothing listens there now: connection refused, like being offline
  source = weights.SOURCES['keras_vgg19']
  monkeypatch.setitem(weights.SOURCES, 'keras_vgg19', dataclasses.replace(
      source, remote=dataclasses.replace(source.remote, url=f'http://127.0.0.1:{port}/w.h5')))
  with pytest.raises(WeightsError) as err:
    weights.load('keras_vgg19')
  message = str(err.value)
  assert 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5' in message
  assert '253f8cb515780f3b799900260a226db6' in message
  assert '--config.weights_path=' in message and 'hed_vgg16' in message
  assert '\n' not in message
