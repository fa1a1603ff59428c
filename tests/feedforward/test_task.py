"""Feed-forward runs end to end: run directory, resume, saved models, stylise CLI, bad input."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from experiments.configs import adain as adain_config
from experiments.configs import johnson as johnson_config
from experiments.configs import texture_net as texture_config
from jaxstyle import cli
from jaxstyle.feedforward import apply, modelfile
from jaxstyle.feedforward import task as feedforward_task

pytestmark = pytest.mark.usefixtures('hed_installed')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
  root = tmp_path_factory.mktemp('photos')
  rng = np.random.default_rng(0)
  for i in range(5):
    h, w = 44 + 3 * i, 52 - 2 * i
    y, x = np.mgrid[:h, :w]
    img = np.stack([(x * (i + 3)) % 256, (y * 7) % 256, rng.integers(0, 256, (h, w))], -1)
    Image.fromarray(img.astype(np.uint8)).save(root / f'p{i}.png')
  style = root.parent / 'style.png'
  Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(style)
  return root, style


def _johnson(photos, **overrides):
  folder, style = photos
  c = johnson_config.get_config('folder,smoke')
  c.data.path, c.style_image = str(folder), str(style)
  for k, v in overrides.items():
    node = c
    *parents, leaf = k.split('.')
    for p in parents:
      node = node[p]
    node[leaf] = v
  return c


def _params(workdir):
  return modelfile.load(workdir / 'model.jaxstyle').variables['params']


def test_johnson_run_directory_resume_model_file_and_stylise_cli(tmp_path, photos):
  info = feedforward_task.run(_johnson(photos), tmp_path / 'run', show_progress=False)
  run = tmp_path / 'run'
  # Resume: 2 steps, stop, 2 more == 4 uninterrupted steps, bitwise.
  no_preview = {'log.sample_every': 100}
  feedforward_task.run(_johnson(photos, **{'train.num_steps': 2}, **no_preview), tmp_path / 'part',
                 show_progress=False)
  resumed = feedforward_task.run(_johnson(photos, **no_preview), tmp_path / 'part', show_progress=False)
  assert resumed['resumed_from_step'] == 2
  for a, b in zip(jax.tree.leaves(_params(run)), jax.tree.leaves(_params(tmp_path / 'part'))):
    np.testing.assert_array_equal(a, b)
  assert info['status'] == 'completed' and info['num_steps'] == 4
  for name in ('config.json', 'run_info.json', 'metrics.jsonl', 'model.jaxstyle',
               'samples/step_0000004.png'):
    assert (run / name).exists(), name
  rows = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [2, 4]
  assert {'total', 'content/relu2_2', 'style/relu1_2', 'style/relu2_2', 'tv'} <= set(rows[0])
  header = modelfile.read_header(run / 'model.jaxstyle')
  assert header['kind'] == 'johnson' and header['meta']['step'] == 4
  assert header['meta']['config']['style_image'] == photos[1].as_posix()

  folder = photos[0]
  (tmp_path / 'in').mkdir()
  for p in sorted(folder.iterdir())[:2]:
    (tmp_path / 'in' / p.name).write_bytes(p.read_bytes())
  (tmp_path / 'in' / 'broken.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
  out = tmp_path / 'out'
  assert cli.main(['stylise', '--model', str(run), '--input', str(tmp_path / 'in'),
                       '--output', str(out)]) == 0
  written = sorted(p.name for p in out.iterdir())
  assert written == ['p0.png', 'p1.png']                  # the broken file is skipped
  assert Image.open(out / 'p0.png').size == Image.open(folder / 'p0.png').size
  # The CLI's output is the library call's output.
  img = np.asarray(Image.open(folder / 'p1.png'), np.float32) / 255
  expected = apply.load(run)(img)
  got = np.asarray(Image.open(out / 'p1.png'), np.float32) / 255
  np.testing.assert_allclose(got, expected, atol=1 / 255 + 1e-6)


# The run machinery is the Johnson test above; this and the AdaIN run add their own
# network and outputs and are the slow tier (~75 s each on 2 cores).
@pytest.mark.slow
def test_texture_run_and_samples_larger_than_training(tmp_path, photos):
  c = texture_config.get_config('smoke')
  c.style_image = str(photos[1])
  info = feedforward_task.run(c, tmp_path / 'tex', show_progress=False)
  assert info['data'] == 'noise'
  sampler = apply.load(tmp_path / 'tex', 'texture')
  x = sampler.sample(3, (40, 72), seed=1)
  assert x.shape == (3, 40, 72, 3)
  assert not np.allclose(x[0], x[1])
  np.testing.assert_array_equal(x, sampler.sample(3, (40, 72), seed=1))
  assert cli.main(['stylise', '--model', str(tmp_path / 'tex'), '--num-samples', '2', '--size', '64x48',
                       '--output', str(tmp_path / 'samples')]) == 0
  assert Image.open(tmp_path / 'samples' / 'sample_001.png').size == (48, 64)


@pytest.mark.slow
def test_adain_run_and_test_time_controls(tmp_path, photos):
  c = adain_config.get_config('folder,smoke')
  c.data.path = c.style_data.path = str(photos[0])
  c.log.sample_every = 100
  feedforward_task.run(c, tmp_path / 'adain', show_progress=False)
  model = modelfile.load(tmp_path / 'adain', 'adain')
  assert set(model.variables['encoder']) >= {'conv4_1_kernel', 'conv1_1_bias'}
  assert 'conv4_2_kernel' not in model.variables['encoder']   # only what relu4_1 needs
  st = apply.load(tmp_path / 'adain')
  rng = np.random.default_rng(0)
  content, s1, s2 = (rng.uniform(size=s).astype(np.float32)
                     for s in ((36, 44, 3), (40, 40, 3), (40, 40, 3)))
  out = st(content, [s1])
  assert out.shape == content.shape
  # alpha=0 decodes the content's own features: no style involved.
  np.testing.assert_allclose(st(content, [s1], alpha=0.0), st(content, [s2], alpha=0.0),
                             atol=1e-5)
  # Weights (1, 0) are the first style alone.
  np.testing.assert_allclose(st(content, [s1, s2], [1.0, 0.0]), out, atol=1e-5)
  assert st(content, [s1], preserve_colors=True).shape == content.shape
  assert cli.main(['stylise', '--model', str(tmp_path / 'adain'), '--input', str(photos[0] / 'p0.png'),
                       '--style', f'{photos[1]},{photos[1]}', '--style-weights',
                       '0.3,0.7', '--alpha', '0.5', '--output', str(tmp_path / 'o.png')]) == 0
  assert (tmp_path / 'o.png').exists()


# --------------------------------------------------------------------------- bad input

def _cli(args, cwd):
  return subprocess.run([sys.executable, '-m', 'jaxstyle', 'run', *args], capture_output=True,
                        text=True, cwd=cwd, env={**__import__('os').environ,
                                                 'JAX_NUM_CPU_DEVICES': '8'})


def test_missing_style_image_is_one_line_and_writes_nothing(tmp_path, photos):
  repo = __import__('pathlib').Path(__file__).resolve().parents[2]
  r = _cli(['johnson:folder,smoke', '--workdir',
            str(tmp_path / 'w'), f'--config.data.path={photos[0]}',
            f'--config.style_image={tmp_path / "nope.jpg"}'], repo)
  assert r.returncode == 2
  assert r.stderr.strip().count('\n') == 0 and r.stderr.startswith('error: style_image')
  assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('case', ['empty', 'corrupt', 'too_small'])
def test_bad_content_folders(tmp_path, photos, case):
  folder = tmp_path / 'content'
  folder.mkdir()
  # 'upfront': bad images stop the run before anything is written (the default, 'lazy',
  # stops at the step that first needs one; tests/data/test_pipeline.py).
  overrides = {'data.verify_images': 'upfront'}
  if case != 'empty':
    for p in sorted(photos[0].iterdir())[:2]:
      (folder / p.name).write_bytes(p.read_bytes())
  if case == 'corrupt':
    (folder / 'zz.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
  if case == 'too_small':
    Image.fromarray(np.zeros((20, 60, 3), np.uint8)).save(folder / 'small.png')
    overrides['data.resize'] = 0
  c = _johnson((folder, photos[1]), **overrides)
  from jaxstyle.errors import ImageError
  expected = {'empty': 'holds no images', 'corrupt': 'zz.png', 'too_small': 'smaller than the 32 px crop'}
  with pytest.raises(ImageError, match=expected[case]):
    feedforward_task.run(c, tmp_path / 'w', show_progress=False)
  assert not (tmp_path / 'w').exists()
  if case == 'corrupt':  # or skip it with a warning; the count goes to run_info.json
    c.data.on_bad_image = 'skip'
    with pytest.warns(UserWarning, match=r'skipped 1 unreadable or too small image\(s\)'):
      source, loader, skipped = feedforward_task._content_loader(c.data, 8, 'data')
    loader.close()
    # The folder keeps its length: a fixed substitute serves the bad file's rows.
    assert len(source) == 3 and len(skipped) == 1 and 'zz.png' in skipped[0]


def test_model_file_errors(tmp_path, photos):
  net = dict(widths=[4, 4, 8], num_residual=1, output='linear', pixel_scale=1.0)
  params = apply.build_net('johnson', net).init(jax.random.key(0), np.zeros((1, 8, 8, 3)))
  path = modelfile.save(tmp_path / 'm.jaxstyle', modelfile.SavedModel(
      'johnson', net, {'params': params['params'], 'model_state': {}}, {'step': 1}))
  assert apply.load(path, 'johnson')(np.zeros((8, 8, 3), np.float32)).shape == (8, 8, 3)
  raw = path.read_bytes()
  cases = {
      'truncated': (raw[:-100], 'truncated'),
      'damaged': (raw[:-1] + bytes([raw[-1] ^ 1]), 'damaged'),
      'version': (raw.replace(b'"format_version": 1', b'"format_version": 7'), 'version 7'),
      'foreign': (b'PK\x03\x04' + raw[4:], 'not a jaxstyle model file'),
  }
  for name, (content, message) in cases.items():
    bad = tmp_path / f'{name}.jaxstyle'
    bad.write_bytes(content)
    with pytest.raises(modelfile.ModelFileError, match=message):
      apply.load(bad)
  with pytest.raises(modelfile.ModelFileError, match="is a 'johnson' model, but this needs 'adain'"):
    apply.load(path, 'adain')
  # The CLI: one line, exit 2, nothing written.
  (tmp_path / 'v.jaxstyle').write_bytes(cases['version'][0])
  for args, msg in ((['--model', str(tmp_path / 'v.jaxstyle')], 'version 7'),
                    (['--model', str(path), '--style', str(photos[1])], '--style is for AdaIN')):
    r = subprocess.run([sys.executable, '-m', 'jaxstyle', 'stylise', *args, '--input',
                        str(photos[0] / 'p0.png'), '--output', str(tmp_path / 'x.png')],
                       capture_output=True, text=True,
                       cwd=__import__('pathlib').Path(__file__).resolve().parents[2])
    assert r.returncode == 2 and r.stderr.startswith('error:') and msg in r.stderr, r.stderr
    assert r.stderr.strip().count('\n') == 0
  assert not (tmp_path / 'x.png').exists()
