"""Image reading (modes, bad files), writing, and colour transforms."""

import numpy as np
import pytest
from PIL import Image

from jaxstyle.errors import ImageError, OutputError
from jaxstyle.io import figures, images
from jaxstyle.perceptual import color


def _save(tmp_path, img, name):
  path = tmp_path / name
  img.save(path)
  return str(path)


def test_rgb_png_round_trip(tmp_path):
  arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
  out = images.load(_save(tmp_path, Image.fromarray(arr), 'a.png'))
  assert out.dtype == np.float32 and out.shape == (5, 7, 3)
  np.testing.assert_array_equal(np.round(out * 255).astype(np.uint8), arr)
  images.save(tmp_path / 'b.png', out)
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'b.png')), arr)
  assert sorted(p.name for p in tmp_path.iterdir()) == ['a.png', 'b.png']  # no temp files left


def test_grayscale_and_16_bit(tmp_path):
  gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
  out = images.load(_save(tmp_path, Image.fromarray(gray, 'L'), 'g.png'))
  np.testing.assert_allclose(out, np.repeat(gray[..., None], 3, -1) / 255.0, atol=1e-6)
  deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
  out16 = images.load(_save(tmp_path, Image.fromarray(deep), 'd.png'))
  np.testing.assert_allclose(out16[..., 1], deep / 65535.0, atol=1e-6)


def test_rgba_and_palette_are_composited_over_white(tmp_path):
  rgba = np.zeros((2, 2, 4), np.uint8)
  rgba[0, 0] = [255, 0, 0, 255]  # opaque red
  rgba[1, 1] = [0, 0, 255, 0]    # fully transparent blue
  out = images.load(_save(tmp_path, Image.fromarray(rgba, 'RGBA'), 'a.png'))
  np.testing.assert_allclose(out[0, 0], [1, 0, 0])
  np.testing.assert_allclose(out[1, 1], [1, 1, 1])
  pal = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), 'P')
  pal.putpalette([0, 255, 0, 10, 20, 30] + [0] * 762)
  out = images.load(_save(tmp_path, pal, 'p.png'))
  np.testing.assert_allclose(out[0, 0], [0, 1, 0])
  np.testing.assert_allclose(out[0, 1], np.array([10, 20, 30]) / 255, atol=1e-6)


def test_float_images_are_refused(tmp_path):
  path = _save(tmp_path, Image.fromarray(np.ones((3, 3), np.float32), 'F'), 'f.tiff')
  with pytest.raises(ImageError, match='mode F'):
    images.load(path)


def test_bad_files(tmp_path):
  with pytest.raises(ImageError, match='no such file'):
    images.load(str(tmp_path / 'absent.jpg'), 'content_image')
  text = tmp_path / 'notes.txt'
  text.write_text('hello')
  with pytest.raises(ImageError, match='not an image'):
    images.load(str(text))
  arr = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
  Image.fromarray(arr).save(tmp_path / 'full.jpg')
  data = (tmp_path / 'full.jpg').read_bytes()
  (tmp_path / 'cut.jpg').write_bytes(data[:len(data) // 2])
  with pytest.raises(ImageError, match='corrupt or truncated'):
    images.load(str(tmp_path / 'cut.jpg'))
  with pytest.raises(ImageError, match='directory'):
    images.load(str(tmp_path))


def test_unwritable_output(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('x')
  with pytest.raises(OutputError, match='cannot write'):
    images.save(blocker / 'out.png', np.zeros((2, 2, 3)))


def test_resize_keeps_aspect_and_range():
  assert images.size_for((768, 1024), 512) == (384, 512)
  out = images.resize(np.random.default_rng(0).uniform(size=(40, 60, 3)), (20, 30))
  assert out.shape == (20, 30, 3) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_yiq_round_trip_and_luminance():
  rgb = np.random.default_rng(1).uniform(size=(4, 4, 3)).astype(np.float32)
  np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(rgb)), rgb, atol=1e-5)
  np.testing.assert_allclose(color.luminance(rgb),
                             0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2],
                             atol=1e-6)


def test_restore_colors_keeps_content_chrominance():
  rng = np.random.default_rng(2)
  content = rng.uniform(0.3, 0.7, (8, 8, 3)).astype(np.float32)
  stylized = rng.uniform(0.3, 0.7, (8, 8, 3)).astype(np.float32)
  out = np.asarray(color.restore_colors(stylized, content))
  yiq_out, yiq_c, yiq_s = (np.asarray(color.rgb_to_yiq(a)) for a in (out, content, stylized))
  np.testing.assert_allclose(yiq_out[..., 1:], yiq_c[..., 1:], atol=1e-4)
  np.testing.assert_allclose(yiq_out[..., 0], yiq_s[..., 0], atol=1e-4)


def test_match_color_transfers_mean_and_covariance():
  rng = np.random.default_rng(3)
  style = rng.uniform(0.2, 0.5, (32, 32, 3)) * [1.0, 0.5, 0.8]
  mix = np.array([[0.5, 0.1, 0.0], [0.1, 0.3, 0.05], [0.0, 0.05, 0.2]])
  content = 0.4 + (rng.normal(size=(32 * 32, 3)) @ mix * 0.3).reshape(32, 32, 3)
  out = np.asarray(color.match_color(style.astype(np.float32), content.astype(np.float32)))
  o, c = out.reshape(-1, 3).astype(np.float64), content.reshape(-1, 3)
  np.testing.assert_allclose(o.mean(0), c.mean(0), atol=2e-3)
  np.testing.assert_allclose(np.cov(o, rowvar=False), np.cov(c, rowvar=False), atol=2e-3)


def test_contact_sheet_layout():
  tiles = [np.zeros((4, 5, 3)), np.ones((4, 5, 3)) * 0.5]
  sheet = figures.grid([tiles], pad=2)
  assert sheet.shape == (8, 16, 3)
  assert sheet[2, 2, 0] == 0 and sheet[2, 9, 0] == 0.5 and sheet[0, 0, 0] == 1


def test_named_image_is_fetched_once_and_verified(tmp_path, monkeypatch):
  import dataclasses
  import hashlib
  import http.server
  import io
  import threading
  buf = io.BytesIO()
  Image.fromarray(np.full((4, 6, 3), 200, np.uint8)).save(buf, format='PNG')
  payload = buf.getvalue()
  hits = []

  class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
      hits.append(self.path)
      self.send_response(200)
      self.send_header('Content-Length', str(len(payload)))
      self.end_headers()
      self.wfile.write(payload)

    def log_message(self, *args):
      pass

  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  threading.Thread(target=httpd.serve_forever, daemon=True).start()
  try:
    url = f'http://127.0.0.1:{httpd.server_address[1]}/tubingen.jpg'
    remote = dataclasses.replace(images.NAMED_IMAGES['tubingen'], url=url,
                                 checksum='sha256:' + hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(images.NAMED_IMAGES, 'tubingen', remote)
    first = images.load('tubingen')
    second = images.load('tubingen')
  finally:
    httpd.shutdown()
    httpd.server_close()
  assert first.shape == (4, 6, 3) and np.array_equal(first, second) and len(hits) == 1


def test_named_image_offline_says_how_to_pass_a_local_file(monkeypatch):
  import dataclasses
  import socket

  from jaxstyle.errors import DownloadError
  s = socket.socket()
  s.bind(('127.0.0.1', 0))
  port = s.getsockname()[1]
  s.close()
  remote = dataclasses.replace(images.NAMED_IMAGES['starry_night'],
                               url=f'http://127.0.0.1:{port}/starry_night.jpg')
  monkeypatch.setitem(images.NAMED_IMAGES, 'starry_night', remote)
  with pytest.raises(DownloadError, match=r'no cached copy.*--config.style_images=/path/to/starry_night.jpg'):
    images.load('starry_night', 'style_images')


def test_pinned_hashes_match_the_paper_images(shared_images):
  from jaxstyle.io import download
  for name, remote in images.NAMED_IMAGES.items():
    assert download.verify(shared_images / remote.filename, remote), name
