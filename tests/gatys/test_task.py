"""The experiment runner and CLI: run directory, reproducibility, bad input."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments.configs import gatys as gatys_config
from jaxstyle.errors import (
  ConfigError,
  ImageError,
  JaxstyleError,
  NonFiniteLossError,
  OutputError,
  WeightsError,
)
from jaxstyle.gatys import task as gatys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def inputs(tmp_path):
  rng = np.random.default_rng(0)
  paths = {}
  for name, shape in (('content', (48, 64)), ('style', (64, 64))):
    small = rng.integers(0, 256, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((shape[1], shape[0]), Image.BICUBIC)
    paths[name] = tmp_path / f'{name}.png'
    img.save(paths[name])
  return paths


@pytest.fixture
def config(inputs, random_vgg16_file):
  c = gatys_config.get_config('smoke')
  c.weights = 'keras_vgg16'
  c.weights_path = str(random_vgg16_file)
  c.weights_verify = False
  c.content_image = str(inputs['content'])
  c.style_images = str(inputs['style'])
  c.style_layers = 'relu1_1,relu2_1,relu3_1'
  c.content_layers = 'relu2_2'
  return c


def test_run_directory_contents(config, tmp_path):
  info = gatys.run(config, tmp_path / 'run', show_progress=False)
  run = tmp_path / 'run'
  assert sorted(p.name for p in run.iterdir()) == [
      'config.json', 'final.png', 'images', 'metrics.jsonl', 'run_info.json']
  assert sorted(p.name for p in (run / 'images').iterdir()) == ['iter_00002.png', 'iter_00004.png']
  rows = [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [1, 2, 3, 4, 5]
  assert {'total', 'content/relu2_2', 'style/relu1_1', 'style/relu3_1', 'evals'} <= set(rows[0])
  saved = json.loads((run / 'run_info.json').read_text())
  assert saved['status'] == 'completed' and saved['seed'] == 0 and saved['wall_time_s'] > 0
  assert {'git', 'packages', 'devices', 'command'} <= set(saved)
  # The kernels this CPU run used (kernels.select's CPU default) and its precision.
  assert saved['kernels'] == {'backend': 'cpu', 'vgg_conv': 'winograd'}
  assert saved['precision']['precision'] == 'float32'
  assert saved['final_losses']['total'] == pytest.approx(rows[-1]['total'])
  assert json.loads((run / 'config.json').read_text())['style_layers'] == 'relu1_1,relu2_1,relu3_1'
  assert Image.open(run / 'final.png').size == (64, 48)
  assert info['status'] == 'completed'


def test_same_config_and_seed_gives_identical_pixels(config, tmp_path):
  config.init = 'noise'
  gatys.run(config, tmp_path / 'a', show_progress=False)
  gatys.run(config, tmp_path / 'b', show_progress=False)
  a = np.asarray(Image.open(tmp_path / 'a' / 'final.png'))
  b = np.asarray(Image.open(tmp_path / 'b' / 'final.png'))
  np.testing.assert_array_equal(a, b)
  config.seed = 1
  gatys.run(config, tmp_path / 'c', show_progress=False)
  assert not np.array_equal(a, np.asarray(Image.open(tmp_path / 'c' / 'final.png')))


@pytest.mark.parametrize('changes', [
    dict(loss_form='sum', pooling='avg', init='noise', style_layer_weights='uniform',
         content_layers='conv2_2', style_layers='conv1_1,conv2_1,conv3_1'),  # paper
    # coarse-to-fine and style scale are checked in test_transfer.py; the whole run: slow tier
    pytest.param(dict(num_scales=2, preserve_colors='luminance', style_scale=0.5,
                      tv_weight=1e-3), marks=pytest.mark.slow),
    dict(optimizer='adam', style_blend_weights='1', init='style'),
])
def test_option_combinations_run(config, tmp_path, changes):
  for k, v in changes.items():
    setattr(config, k, v)
  info = gatys.run(config, tmp_path / 'run', show_progress=False)
  assert info['status'] == 'completed' and np.isfinite(info['final_losses']['total'])
  assert Image.open(tmp_path / 'run' / 'final.png').size == (64, 48)


def test_texture_synthesis_variant(config, tmp_path):
  config.content_image = ''
  config.init = 'noise'
  gatys.run(config, tmp_path / 'tex', show_progress=False)
  rows = (tmp_path / 'tex' / 'metrics.jsonl').read_text().splitlines()
  assert 'content/' not in rows[0]
  assert Image.open(tmp_path / 'tex' / 'final.png').size == (64, 64)


def _bad(config, tmp_path, **changes):
  for k, v in changes.items():
    setattr(config, k, v)
  return config


@pytest.mark.parametrize('changes,error,match', [
    (dict(content_image='/nonexistent/photo.jpg'), ImageError, 'no such file'),
    (dict(style_layers='relu1_1,relu9_9'), ConfigError, 'unknown layer'),
    (dict(style_weight=-1.0), ConfigError, 'style_weight'),
    (dict(content_weight=float('inf')), ConfigError, 'content_weight'),
    (dict(style_blend_weights='1,nan'), ConfigError, 'blend'),
    (dict(image_size=3), ImageError, 'needs at least'),
    (dict(weights_verify=True), WeightsError, 'md5'),
    (dict(preserve_colors='sepia'), ConfigError, 'preserve_colors'),
    (dict(precision='bfloat16'), ConfigError, r'precision must be float32, got .bfloat16.; '
                                              r'Gatys optimises one image with L-BFGS'),
    (dict(vgg_conv_impl='fast'), ConfigError,
     "vgg_conv_impl must be one of auto, xla, winograd, got 'fast'"),
])
def test_bad_input_fails_before_writing_anything(config, tmp_path, changes, error, match):
  workdir = tmp_path / 'run'
  with pytest.raises(error, match=match):
    gatys.run(_bad(config, tmp_path, **changes), workdir, show_progress=False)
  assert not workdir.exists()


def test_non_image_and_palette_inputs(config, tmp_path, inputs):
  text = tmp_path / 'style.txt'
  text.write_text('not an image')
  config.style_images = str(text)
  with pytest.raises(ImageError, match='not an image'):
    gatys.run(config, tmp_path / 'r1', show_progress=False)
  Image.open(inputs['style']).convert('P').save(tmp_path / 'pal.png')  # converted, not refused
  config.style_images = str(tmp_path / 'pal.png')
  assert gatys.run(config, tmp_path / 'r2', show_progress=False)['status'] == 'completed'


def test_unwritable_and_occupied_workdirs(config, tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('x')
  with pytest.raises(OutputError, match='not a writable directory'):
    gatys.run(config, blocker / 'run', show_progress=False)
  gatys.run(config, tmp_path / 'done', show_progress=False)
  with pytest.raises(OutputError, match='already holds a run'):
    gatys.run(config, tmp_path / 'done', show_progress=False)


def test_non_finite_loss_keeps_last_good_image(config, tmp_path):
  config.optimizer = 'adam'
  config.learning_rate = 1e38
  with pytest.raises(NonFiniteLossError, match='iteration 2'):
    gatys.run(config, tmp_path / 'nan', show_progress=False)
  info = json.loads((tmp_path / 'nan' / 'run_info.json').read_text())
  assert info['status'] == 'non_finite' and info['failed_step'] == 2
  # The only finite iterate is the starting one, init='content': last_good.png is the
  # content image (48x64 = the smoke config's 64 px), as read, to within one grey level.
  last_good = np.asarray(Image.open(tmp_path / 'nan' / 'last_good.png').convert('RGB'), np.int16)
  content = np.asarray(Image.open(config.content_image).convert('RGB'), np.int16)
  assert config.init == 'content' and last_good.shape == content.shape == (48, 64, 3)
  assert np.abs(last_good - content).max() <= 1
  assert not (tmp_path / 'nan' / 'final.png').exists()


@pytest.mark.parametrize('how', ['exception', 'SIGINT', 'SIGTERM'])
def test_interrupted_run_keeps_its_last_image(config, tmp_path, monkeypatch, how):
  from jaxstyle.gatys import transfer
  real_run = transfer.run

  def interrupted_run(stylizer, plan, callback):
    def cb(progress):
      if progress.iteration == 3 and how != 'exception':
        os.kill(os.getpid(), getattr(signal, how))  # the run stops after this iteration
      callback(progress)
      if progress.iteration == 3 and how == 'exception':
        raise KeyboardInterrupt
    return real_run(stylizer, plan, cb)

  monkeypatch.setattr(transfer, 'run', interrupted_run)
  with pytest.raises(KeyboardInterrupt):
    gatys.run(config, tmp_path / 'int', show_progress=False)
  info = json.loads((tmp_path / 'int' / 'run_info.json').read_text())
  assert info['status'] == 'interrupted' and info['iterations_done'] == 3
  assert (tmp_path / 'int' / 'interrupted.png').exists()
  assert len((tmp_path / 'int' / 'metrics.jsonl').read_text().splitlines()) == 3


def test_all_variants_build_and_serialise():
  for variant in ('', 'reference', 'paper', 'texture', 'hed', 'adam', 'shipwreck', 'smoke',
                  'paper,hed,smoke'):
    c = gatys_config.get_config(variant)
    assert json.loads(c.to_json())['seed'] == 0
  assert gatys_config.get_config('paper').pooling == 'avg'
  with pytest.raises(ValueError, match='unknown variant'):
    gatys_config.get_config('papr')


def _cli(*args, cwd=ROOT):
  env = dict(os.environ, JAX_NUM_CPU_DEVICES='1')
  return subprocess.run([sys.executable, '-m', 'experiments.main', *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300)


def test_cli_runs_and_reports_user_errors_in_one_line(config, tmp_path):
  common = ['--config', f'{ROOT}/experiments/configs/gatys.py:smoke',
            '--config.weights=keras_vgg16', f'--config.weights_path={config.weights_path}',
            '--config.weights_verify=False', f'--config.style_images={config.style_images}',
            '--config.style_layers=relu1_1,relu2_1', '--config.iterations=2']
  ok = _cli(*common, f'--config.content_image={config.content_image}',
            f'--workdir={tmp_path / "ok"}')
  assert ok.returncode == 0, ok.stderr
  assert ok.stdout.startswith('completed: ') and (tmp_path / 'ok' / 'final.png').exists()
  bad = _cli(*common, '--config.content_image=/no/such.jpg', f'--workdir={tmp_path / "bad"}')
  assert bad.returncode == 2
  lines = [line for line in bad.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: content_image: no such file')
  assert not (tmp_path / 'bad').exists()


def test_errors_are_jaxstyle_errors():
  for cls in (ConfigError, ImageError, WeightsError, OutputError, NonFiniteLossError):
    assert issubclass(cls, JaxstyleError)


def test_gatys_paper_inputs_with_hed(shared_images, hed_installed, tmp_path):
  """The real pipeline on the paper's images with the real offline backbone."""
  c = gatys_config.get_config('hed')
  c.content_image = str(shared_images / 'tubingen.jpg')
  c.style_images = str(shared_images / 'starry_night.jpg')
  c.image_size, c.iterations, c.save_every = 64, 10, 0
  info = gatys.run(c, tmp_path / 'real', show_progress=False)
  rows = [json.loads(x) for x in (tmp_path / 'real' / 'metrics.jsonl').read_text().splitlines()]
  assert rows[-1]['total'] < 0.5 * rows[0]['total']
  assert info['output_sizes'] == [[48, 64]] or info['output_sizes'] == [(48, 64)]


def test_run_info_names_the_checked_out_commit():
  from jaxstyle.runtime import run_info
  head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
  if head.returncode != 0:
    pytest.skip('not a git checkout')
  info = run_info.collect(seed=3, argv=['x'])
  assert info['git']['commit'] == head.stdout.strip() and info['seed'] == 3
  assert info['packages']['jax'] and info['devices']
