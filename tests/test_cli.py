"""The `jaxstyle` command: subcommands, config names and files, overrides, user errors,
and the package built from this checkout (console script, configs, entry points)."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from experiments.configs import gatys as gatys_config
from experiments.configs import mixture_ring8
from jaxstyle.errors import ConfigError
from jaxstyle.runtime import config as config_lib

ROOT = Path(__file__).resolve().parents[1]


def jaxstyle(*args, cwd=None, timeout=300):
  return subprocess.run([sys.executable, '-m', 'jaxstyle', *map(str, args)], cwd=cwd,
                        capture_output=True, text=True, timeout=timeout)


def one_error_line(r, *needles):
  assert r.returncode == 2, (r.stdout, r.stderr)
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error:'), r.stderr
  for needle in needles:
    assert needle in lines[0], lines[0]
  return lines[0]


def test_help_lists_the_subcommands(tmp_path):
  r = jaxstyle('--help', cwd=tmp_path)
  assert r.returncode == 0
  for sub in ('run', 'stylise', 'evaluate', 'sweep', 'reproduce'):
    assert f'    {sub}' in r.stdout, r.stdout
  script = shutil.which('jaxstyle')
  if script is None:
    pytest.skip('the jaxstyle console script is not installed (pip install -e .)')
  assert subprocess.run([script, '--help'], capture_output=True, text=True,
                        cwd=tmp_path).stdout == r.stdout


def test_shipped_configs_are_every_config_file_of_the_experiments_package():
  folder = ROOT / 'experiments' / 'configs'
  expected = sorted(p.stem for p in folder.glob('*.py')
                    if not p.stem.startswith('_') and not p.stem.endswith('_common'))
  assert sorted(config_lib.shipped()) == expected
  assert 'gatys' in expected and 'mixture_ring8' in expected and 'johnson' in expected
  sweeps = sorted(config_lib.shipped(config_lib.SWEEP_GROUP))
  assert sweeps == sorted(p.stem for p in (ROOT / 'experiments' / 'sweeps').glob('[!_]*.py'))


def test_print_config_resolves_name_variants_and_overrides(tmp_path):
  r = jaxstyle('run', 'mixture_ring8:smoke', '--config.train.loss=hinge',
               '--config.model.spectral_norm', 'true', '--config.train.batch_size=32',
               '--config.g_optimizer.lr=1e-3', '--print_config', cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  expected = mixture_ring8.get_config('smoke')
  expected.train.loss = 'hinge'
  expected.model.spectral_norm = True
  expected.train.batch_size = 32
  expected.g_optimizer.lr = 1e-3
  assert json.loads(r.stdout) == json.loads(expected.to_json_best_effort())


def test_a_config_file_path_and_the_checkout_entry_point_agree(tmp_path):
  by_name = jaxstyle('run', 'gatys:paper', '--print_config', cwd=tmp_path)
  by_path = jaxstyle('run', ROOT / 'experiments/configs/gatys.py:paper', '--print_config',
                     cwd=tmp_path)
  legacy = subprocess.run([sys.executable, '-m', 'experiments.main', '--config',
                           'experiments/configs/gatys.py:paper', '--print_config'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  expected = json.loads(gatys_config.get_config('paper').to_json_best_effort())
  for r in (by_name, by_path, legacy):
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == expected


@pytest.mark.parametrize('args, needles', [
    (['frobnicate'], ["invalid choice: 'frobnicate'", "'run'", "'sweep'"]),
    (['run', 'mixture_rng8', '--workdir', 'x'], ["unknown config 'mixture_rng8'",
                                                  'did you mean mixture_ring8', 'gatys']),
    (['run', 'no/such/config.py', '--workdir', 'x'], ['no/such/config.py does not exist']),
    (['run', 'gatys:smoke', '--workdir', 'x', '--config.style_wieght=3'],
     ["unknown config key 'style_wieght'", 'style_weight']),
    (['run', 'gatys:smokey', '--workdir', 'x'], ["unknown variant 'smokey'", 'smoke']),
    (['run', 'mixture_ring8', '--workdir', 'x', '--config.train.num_steps=ten'],
     ['train.num_steps must be an integer', "'ten'"]),
    (['run', 'gatys', '--workdir', 'x', '--config.tensorboard=maybe'],
     ['tensorboard must be true or false']),
    (['run', 'gatys'], ['needs --workdir']),
    (['sweep', 'run', 'no_such_sweep'], ["unknown sweep 'no_such_sweep'",
                                          'gan_mixtures_ablation']),
    (['sweep', 'frob'], ["invalid choice: 'frob'", "'report'"]),
    (['evaluate', '--workdir', 'nowhere'], ['nowhere has no config.json']),
    (['run', 'gatys', '--config.content_layers', '--print_config'],
     ['--config.content_layers needs a value']),
    (['sweep', 'run', 'gan_mixtures', '--only', '[', '--dry-run'],
     ["--only '[' is not a regular expression"]),
])
def test_user_errors_are_one_line_with_the_choices_and_exit_2(tmp_path, args, needles):
  one_error_line(jaxstyle(*args, cwd=tmp_path), *needles)
  assert not (tmp_path / 'x').exists()


def test_sweep_run_overrides_every_cell_but_not_its_axes(tmp_path):
  r = jaxstyle('sweep', 'run', 'gan_mixtures_ablation:steps=2000,seeds=1', '--dry-run',
               '--dir', tmp_path / 's', '--config.train.num_steps=50', '--config.train.loss=hinge',
               cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  lines = r.stdout.strip().splitlines()
  assert len(lines) == 20   # 2 mixtures x 5 losses x 2 spectral norms x 1 seed
  assert all('--config.train.num_steps=50' in line and 'num_steps=2000' not in line
             for line in lines)   # the command line wins over the sweep's base
  assert sum('--config.train.loss=hinge' in line for line in lines) == 4   # the axis wins


def test_override_parsing_follows_the_replaced_value():
  c = mixture_ring8.get_config()
  config_lib.apply_overrides(c, [('train.num_steps', '12'), ('g_optimizer.lr', '3e-4'),
                                 ('model.spectral_norm', 'yes'), ('data.name', 'grid25'),
                                 ('log.tensorboard', 'off')])
  assert (c.train.num_steps, c.g_optimizer.lr, c.model.spectral_norm, c.data.name,
          c.log.tensorboard) == (12, 3e-4, True, 'grid25', False)
  assert type(c.train.num_steps) is int and type(c.g_optimizer.lr) is float
  with pytest.raises(ConfigError, match=r"config key 'train' is a group \(ac_weight, augment, batch_size, "):
    config_lib.override(c, 'train', '3')
  with pytest.raises(ConfigError, match="unknown config key 'nope.x'"):
    config_lib.override(c, 'nope.x', '3')
  overrides, rest = config_lib.parse_override_args(
      ['run', 'x', '--config.a=1', '--config.b', '2 3', '--workdir=w', '--config.c=d=e'])
  assert overrides == [('a', '1'), ('b', '2 3'), ('c', 'd=e')] and rest == ['run', 'x',
                                                                              '--workdir=w']
  assert config_lib.split_list(' a, b,,c ') == ('a', 'b', 'c')
  assert config_lib.split_numbers('0.3, 0.7', 'w') == (0.3, 0.7)
  with pytest.raises(ConfigError, match='w must be comma-separated numbers'):
    config_lib.split_numbers('0.3, x', 'w')


def test_a_gan_runs_from_another_directory_through_the_command(tmp_path):
  r = jaxstyle('run', 'mixture_ring8:smoke', '--workdir', 'runs/y', '--config.eval.num_samples=500',
               '--config.train.batch_size=16', cwd=tmp_path)   # 8 simulated devices
  assert r.returncode == 0, r.stderr[-2000:]
  assert r.stdout.startswith('completed: runs/y (step 4')
  run = tmp_path / 'runs' / 'y'
  info = json.loads((run / 'run_info.json').read_text())
  ev = json.loads((run / 'eval.json').read_text())
  assert info['status'] == 'completed' and ev['kind'] == 'modes' and ev['num_samples'] == 500
  assert json.loads((run / 'config.json').read_text())['eval']['num_samples'] == 500


def test_the_built_wheel_carries_the_command_configs_and_license(tmp_path):
  r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                      '-q', '-w', str(tmp_path), str(ROOT)], capture_output=True, text=True,
                     timeout=300)
  if r.returncode != 0 and 'No module named' in r.stderr:
    pytest.skip(f'cannot build without isolation here: {r.stderr.strip()[-200:]}')
  assert r.returncode == 0, r.stderr[-2000:]
  (wheel,) = tmp_path.glob('jaxstyle-*.whl')
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    dist = next(n.split('/')[0] for n in names if n.endswith('.dist-info/METADATA'))
    entry_points = z.read(f'{dist}/entry_points.txt').decode()
    metadata = z.read(f'{dist}/METADATA').decode()
  configs = {f'experiments/configs/{p.name}' for p in (ROOT / 'experiments/configs').glob('*.py')}
  sweeps = {f'experiments/sweeps/{p.name}' for p in (ROOT / 'experiments/sweeps').glob('*.py')}
  assert configs <= names and sweeps <= names and 'jaxstyle/cli.py' in names
  assert not any(n.startswith('tests/') for n in names)
  assert 'jaxstyle = jaxstyle.cli:entry_point' in entry_points
  assert '[jaxstyle.configs]' in entry_points and 'experiments.configs' in entry_points
  assert 'License-Expression: Apache-2.0' in metadata
  assert any(n.endswith('/licenses/LICENSE') for n in names)
