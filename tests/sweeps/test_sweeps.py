"""Sweep runner: expansion and naming, claims, concurrent workers, skip/resume, host
shares, aggregation against hand-computed numbers, contact sheets."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxstyle.errors import ConfigError
from jaxstyle.sweeps import report as sweep_report
from jaxstyle.sweeps import spec as sweeplib

REPO = Path(__file__).resolve().parents[2]

STUB_CONFIG = '''
import ml_collections

def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.task = {task!r}
  c.seed = 0
  c.ledger = ''
  c.sleep = 0.0
  c.fail = False
  c.finish_on_term = False
  c.series = '1'
  c.scale = 1.0
  return c
'''

STUB_SWEEP = '''
from jaxstyle.sweeps.spec import Axis, Metric, Sweep

def get_sweep(arg=None):
  return Sweep(
      name='stub', config={config!r}, entry='tests.sweep_cell_stub',
      base={{'ledger': {ledger!r}, 'sleep': {sleep!r}}},
      axes=[Axis.of('scale', [1.0, 10.0]), Axis('kind', {kinds!r})],
      seeds={seeds!r}, metrics=[Metric('loss', 'loss', 'metrics.jsonl', 'min')])
'''


def _stub(tmp_path, kinds=None, seeds=(0, 1, 2), sleep=0.0, task='gatys'):
  config = tmp_path / 'stub_config.py'
  config.write_text(STUB_CONFIG.format(task=task))
  ledger = tmp_path / 'ledger.txt'
  sweep_file = tmp_path / 'stub_sweep.py'
  kinds = kinds or {'a': {'series': '3,1,2'}, 'b': {'series': '5'}}
  sweep_file.write_text(STUB_SWEEP.format(config=str(config), ledger=str(ledger), sleep=sleep,
                                          kinds=kinds, seeds=tuple(seeds)))
  return sweep_file, ledger, tmp_path / 'sweep'


def _run_cli(*args, wait=True, ignore_sigint=False):
  env = {**os.environ, 'PYTHONPATH': str(REPO)}
  cmd = [sys.executable, '-m', 'jaxstyle', 'sweep', *map(str, args)]
  if ignore_sigint:  # as a background job would be: ignored before exec, and inherited
    cmd = [sys.executable, '-c', 'import os, signal, sys; '
           'signal.signal(signal.SIGINT, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])',
           *cmd]
  if not wait:
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
  return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _ledger(path):
  return [line.split() for line in Path(path).read_text().splitlines()] if path.exists() else []


# -- expansion ---------------------------------------------------------------------

def test_an_axis_value_may_run_another_config():
  sweep = sweeplib.Sweep(
      name='archs', config='mixture_ring8:smoke', base={'train.num_steps': 3},
      axes=[sweeplib.Axis('model', {
          'mlp': {},
          'dcgan28': {'config': 'dcgan_mnist:smoke', 'model.spectral_norm': True}})])
  cells = sweeplib.expand(sweep)
  assert [(c.name, c.config, c.overrides) for c in cells] == [
      ('model=mlp__seed=0', 'mixture_ring8:smoke', {'train.num_steps': 3, 'seed': 0}),
      ('model=dcgan28__seed=0', 'dcgan_mnist:smoke',
       {'train.num_steps': 3, 'model.spectral_norm': True, 'seed': 0})]
  assert cells[1].args('w')[:2] == ['run', 'dcgan_mnist:smoke']
  sweeplib.check_overrides(sweep, cells)   # each cell against its own config
  bad = sweeplib.Sweep(name='bad', config='gatys:smoke', axes=[sweeplib.Axis('task', {
      'gatys': {'style_weight': 5.0}, 'gan': {'config': 'dcgan_mnist:smoke', 'style_weight': 5.0}})])
  with pytest.raises(ConfigError, match=r'cell task=gan__seed=0 \(dcgan_mnist:smoke\): '
                                        r"unknown config key 'style_weight'"):
    sweeplib.check_overrides(bad, sweeplib.expand(bad))


def test_expansion_names_say_what_differs_and_carry_the_overrides():
  sweep = sweeplib.Sweep(
      name='t', config='experiments/configs/gatys.py', base={'image_size': 64},
      axes=[sweeplib.Axis.of('style_weight', [1e-3, 10.0], name='sw'),
            sweeplib.Axis('init', {'content': {'init': 'content'},
                                   'noise-s1': {'init': 'noise', 'tv_weight': 1.0}}),
            sweeplib.Axis.of('weights_verify', [True])],
      seeds=(0, 7))
  cells = sweeplib.expand(sweep)
  assert [c.name for c in cells] == [
      'sw=0.001__init=content__weights_verify=on__seed=0',
      'sw=0.001__init=content__weights_verify=on__seed=7',
      'sw=0.001__init=noise-s1__weights_verify=on__seed=0',
      'sw=0.001__init=noise-s1__weights_verify=on__seed=7',
      'sw=10__init=content__weights_verify=on__seed=0',
      'sw=10__init=content__weights_verify=on__seed=7',
      'sw=10__init=noise-s1__weights_verify=on__seed=0',
      'sw=10__init=noise-s1__weights_verify=on__seed=7']
  last = cells[-1]
  assert last.overrides == {'image_size': 64, 'style_weight': 10.0, 'init': 'noise',
                            'tv_weight': 1.0, 'weights_verify': True, 'seed': 7}
  assert last.labels == {'sw': '10', 'init': 'noise-s1', 'weights_verify': 'on'}
  args = last.args('runs/x')
  assert args[:3] == ['run', 'experiments/configs/gatys.py', '--workdir=runs/x']
  assert '--config.style_weight=10.0' in args and '--config.seed=7' in args
  sweeplib.check_overrides(sweep, cells)  # every key exists with a compatible type
  derived = sweeplib.Sweep(
      'd', 'experiments/configs/gatys.py', axes=sweep.axes[:2],
      derive=lambda labels: {'content_weight': 0.5} if labels['init'] == 'content' else {})
  weights = {c.name: c.overrides.get('content_weight') for c in sweeplib.expand(derived)}
  assert weights == {'sw=0.001__init=content__seed=0': 0.5, 'sw=0.001__init=noise-s1__seed=0': None,
                     'sw=10__init=content__seed=0': 0.5, 'sw=10__init=noise-s1__seed=0': None}


@pytest.mark.parametrize('axes,seeds,match', [
    ([sweeplib.Axis.of('seed', [1])], (0,), 'distinct'),
    ([sweeplib.Axis.of('init', ['a']), sweeplib.Axis.of('init', ['b'])], (0,), 'distinct'),
    ([sweeplib.Axis('init', {})], (0,), 'no values'),
    ([sweeplib.Axis('init', {'a b': {}})], (0,), 'names a directory'),
    ([sweeplib.Axis('init', {'a__b': {}})], (0,), 'names a directory'),
    ([sweeplib.Axis('init', {'../x': {}})], (0,), 'names a directory'),
    ([], (), 'seeds'),
    ([], (1, 1), 'seeds'),
])
def test_bad_sweeps_are_refused_with_one_line(axes, seeds, match):
  with pytest.raises(ConfigError, match=match):
    sweeplib.expand(sweeplib.Sweep('t', 'experiments/configs/gatys.py', axes=axes, seeds=seeds))


def test_overrides_are_checked_against_the_config_before_anything_runs():
  for base, match in (({'style_wieght': 1.0}, "unknown config key 'style_wieght'; did you "
                                              'mean style_weight'),
                      ({'style_weight': 'heavy'}, "style_weight must be a number, got 'heavy'"),
                      ({'data.nme': 'x'}, "unknown config key 'data.nme'")):
    sweep = sweeplib.Sweep('t', 'experiments/configs/gatys.py', base=base)
    with pytest.raises(ConfigError, match=match):
      sweeplib.check_overrides(sweep, sweeplib.expand(sweep))
  gan = sweeplib.Sweep('t', 'experiments/configs/mixture_ring8.py', base={'train.loss': 'hinge'})
  sweeplib.check_overrides(gan, sweeplib.expand(gan))


def test_host_shares_are_disjoint_and_cover_the_sweep():
  sweep = sweeplib.Sweep('t', 'x.py', axes=[sweeplib.Axis.of('a', list(range(7)))], seeds=(0, 1))
  cells = sweeplib.expand(sweep)
  shares = [sweeplib.share(cells, i, 3) for i in range(3)]
  names = [c.name for s in shares for c in s]
  assert sorted(names) == sorted(c.name for c in cells) and len(names) == len(set(names))
  assert [len(s) for s in shares] == [5, 5, 4]
  with pytest.raises(ConfigError, match='host index'):
    sweeplib.share(cells, 3, 3)
  assert sweeplib.host_from_env({}) == (0, 1)
  assert sweeplib.host_from_env({'JAXSTYLE_SWEEP_HOST_INDEX': '2',
                                 'JAXSTYLE_SWEEP_NUM_HOSTS': '4'}) == (2, 4)
  assert sweeplib.host_from_env({'TPU_WORKER_ID': '1',
                                 'TPU_WORKER_HOSTNAMES': 'h0,h1,h2,h3'}) == (1, 4)


# -- claims and workers ------------------------------------------------------------

def test_a_claim_is_exclusive_and_freed_when_its_holder_dies(tmp_path):
  sdir = sweeplib.SweepDir(tmp_path)
  (tmp_path / 'claims').mkdir()
  first = sdir.claim('c')
  assert first is not None and sdir.claim('c') is None
  first.release()
  holder = subprocess.Popen([sys.executable, '-c', textwrap.dedent(f'''
      import fcntl, os, sys, time
      fd = os.open({str(tmp_path / "claims" / "c.lock")!r}, os.O_RDWR)
      fcntl.flock(fd, fcntl.LOCK_EX)
      print('held', flush=True)
      time.sleep(60)''')], stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == 'held'
  assert sdir.claim('c') is None
  holder.kill()
  holder.wait()
  assert sdir.claim('c') is not None


def test_concurrent_workers_never_run_a_cell_twice(tmp_path):
  sweep_file, ledger, root = _stub(tmp_path, sleep=0.3)
  # A 2-worker run and a third, separate worker, all on one directory at once.
  procs = [_run_cli('run', sweep_file, '--dir', root, '--workers', '2', wait=False),
           _run_cli('run', sweep_file, '--dir', root, wait=False)]
  outputs = [p.communicate(timeout=600)[0] for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outputs
  events = _ledger(ledger)
  starts = [cell for cell, _, event in events if event == 'start']
  assert len(starts) == 12 and len(set(starts)) == 12
  assert sorted(starts) == sorted(c for c, _, e in events if e == 'done')
  assert len({pid for _, pid, _ in events}) == 12  # one process per cell
  workers = {json.loads(p.read_text())['worker'] for p in (root / 'claims').glob('*.json')}
  assert len(workers) >= 2, workers  # the work was actually shared
  again = _run_cli('run', sweep_file, '--dir', root)
  assert again.returncode == 0 and 'ran 0, already completed 12' in again.stdout
  assert len(_ledger(ledger)) == len(events)


def test_failed_cells_are_recorded_and_skipped_crashed_ones_rerun(tmp_path):
  sweep_file, ledger, root = _stub(
      tmp_path, seeds=(0,), kinds={'ok': {'series': '1,2'}, 'bad': {'fail': True}})
  first = _run_cli('run', sweep_file, '--dir', root)
  assert first.returncode == 1
  state = json.loads((root / 'claims' / 'scale=1__kind=bad__seed=0.json').read_text())
  assert state['status'] == 'failed' and state['returncode'] == 2
  assert state['error'] == 'error: this cell is configured to fail'
  assert 'FAILED scale=1__kind=bad__seed=0' in first.stdout
  n = len(_ledger(ledger))
  second = _run_cli('run', sweep_file, '--dir', root)  # nothing to do: done and failed
  assert second.returncode == 1 and 'ran 0' in second.stdout and len(_ledger(ledger)) == n

  # A worker that died mid-run leaves 'running' and a partial run directory: a Gatys-like
  # (non-resumable) cell restarts in a fresh directory and the old one is kept.
  name = 'scale=10__kind=ok__seed=0'
  sweeplib.SweepDir(root).set_state(name, status='running')
  (root / 'runs' / name / 'run_info.json').unlink()
  third = _run_cli('run', sweep_file, '--dir', root, '--only', 'kind=ok')
  assert third.returncode == 0, third.stdout
  assert (root / 'runs' / f'{name}.attempt-1' / 'partial').exists()
  assert [e for c, _, e in _ledger(ledger) if c == name] == ['start', 'done', 'start', 'done']
  assert json.loads((root / 'claims' / f'{name}.json').read_text())['attempts'] == 2

  retried = _run_cli('run', sweep_file, '--dir', root, '--retry-failed')
  assert retried.returncode == 1
  assert json.loads((root / 'claims' / 'scale=1__kind=bad__seed=0.json').read_text())[
      'attempts'] == 2


def test_a_resumable_task_continues_in_its_own_directory(tmp_path):
  sweep_file, ledger, root = _stub(tmp_path, seeds=(0,), task='gan',
                                   kinds={'ok': {'series': '1'}})
  assert _run_cli('run', sweep_file, '--dir', root, '--only', 'scale=1').returncode == 0
  name = 'scale=1__kind=ok__seed=0'
  sweeplib.SweepDir(root).set_state(name, status='interrupted')
  assert _run_cli('run', sweep_file, '--dir', root, '--only', 'scale=1').returncode == 0
  assert [e for c, _, e in _ledger(ledger) if c == name] == ['start', 'done', 'resume', 'done']
  assert not list((root / 'runs').glob('*.attempt-*'))


def test_a_changed_sweep_file_is_refused(tmp_path):
  sweep_file, _, root = _stub(tmp_path, seeds=(0,))
  assert _run_cli('run', sweep_file, '--dir', root, '--dry-run').returncode == 0
  assert _run_cli('run', sweep_file, '--dir', root, '--only', 'kind=b').returncode == 0
  sweep_file.write_text(sweep_file.read_text().replace("'5'", "'6'"))
  out = _run_cli('run', sweep_file, '--dir', root)
  assert out.returncode == 2
  assert out.stderr.startswith('error: cell scale=1__kind=b__seed=0') and \
      len(out.stderr.strip().splitlines()) == 1


def test_hosts_of_a_slice_each_run_their_share(tmp_path):
  sweep_file, ledger, root = _stub(tmp_path)
  for host in (0, 1):
    env = {'JAXSTYLE_SWEEP_HOST_INDEX': str(host), 'JAXSTYLE_SWEEP_NUM_HOSTS': '2'}
    proc = subprocess.run([sys.executable, '-m', 'jaxstyle', 'sweep', 'run', str(sweep_file),
                           '--dir', str(root)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': str(REPO), **env}, timeout=600)
    assert proc.returncode == 0 and f'6 of 12 cells of stub in {root} (host {host} of 2)' \
        in proc.stdout
    ran = {c for c, _, e in _ledger(ledger) if e == 'done'}
    assert len(ran) == 6 * (host + 1)
  cells = sweeplib.expand(sweeplib.load_sweep(str(sweep_file)))
  assert ran == {c.name for c in cells}


# -- aggregation -------------------------------------------------------------------

def test_report_of_a_stub_sweep_matches_hand_computed_numbers(tmp_path):
  # The stub logs loss = value * scale per step; values '3,1,2' -> final 2*scale,
  # best (min) 1*scale; '5' -> 5*scale for both. Seeds 0, 1, 2 differ by the seed
  # itself (below), so the standard error is that of {x, x+1, x+2}: 1/sqrt(3) = 0.577,
  # and the 95 % interval mean ± t(0.975, 2 df) s.e. = mean ± 4.302653 * 0.57735 = ± 2.484.
  sweep_file, _, root = _stub(tmp_path)
  assert _run_cli('run', sweep_file, '--dir', root).returncode == 0
  for cell in root.joinpath('runs').iterdir():  # add the seed to every logged value
    seed = int(cell.name.rsplit('=', 1)[1])
    rows = [json.loads(l) for l in (cell / 'metrics.jsonl').read_text().splitlines()]
    (cell / 'metrics.jsonl').write_text(''.join(
        json.dumps({**r, 'loss': r['loss'] + seed}) + '\n' for r in rows))
  out = _run_cli('report', root, '--out', tmp_path / 'report')
  assert out.returncode == 0, out.stderr
  table = (tmp_path / 'report' / 'table.md').read_text()
  assert '| scale | kind | seeds | loss.final | loss.best | wall time / run |' in table
  assert '| 1 | a | 3/3 | 3 ± 0.58 [0.516, 5.48] | 2 ± 0.58 [-0.484, 4.48] | 2 s |' in table
  assert '| 1 | b | 3/3 | 6 ± 0.58 [3.52, 8.48] | 6 ± 0.58 [3.52, 8.48] | 2 s |' in table
  assert '| 10 | a | 3/3 | 21 ± 0.58 [18.5, 23.5] | 11 ± 0.58 [8.52, 13.5] | 2 s |' in table
  assert '| 10 | b | 3/3 | 51 ± 0.58 [48.5, 53.5] | 51 ± 0.58 [48.5, 53.5] | 2 s |' in table
  assert '`unrecorded`: 12 cells' in table and 'Warning' not in table  # stub: no fingerprint
  summary = json.loads((tmp_path / 'report' / 'summary.json').read_text())
  group = summary['groups'][2]
  assert group['labels'] == {'scale': '10', 'kind': 'a'}
  mean, se, n = group['metrics']['loss.best']
  assert (mean, n) == (11.0, 3) and se == pytest.approx(1 / np.sqrt(3))
  assert group['ci95']['loss.best'] == pytest.approx([11 - 2.484138, 11 + 2.484138])
  assert summary['baseline'] is None and summary['fingerprints'] == {
      'unrecorded': {'id': 'unrecorded'}}
  plan = json.loads((root / 'sweep.json').read_text())
  for cell, entry in zip(summary['cells'], plan['cells']):  # enough to rerun every cell
    assert cell['fingerprint'] == 'unrecorded'
    assert (cell['command'], cell['config'], cell['overrides']) == \
        (entry['command'], entry['config'], entry['overrides'])


def _fake_sweep(root: Path, cells: dict, metrics: list, image: str = '') -> None:
  """A sweep directory written by hand: {name: (labels, seed, status, files)}."""
  axes = {}
  for labels, _, _, _ in cells.values():
    for a, l in labels.items():
      axes.setdefault(a, [])
      if l not in axes[a]:
        axes[a].append(l)
  plan = {'name': 'fake', 'config': 'c.py',
          'axes': [{'name': a, 'labels': labels} for a, labels in axes.items()],
          'seeds': sorted({s for _, s, _, _ in cells.values()}), 'image': image,
          'metrics': metrics, 'cells': []}
  for name, (labels, seed, status, files) in cells.items():
    plan['cells'].append({'name': name, 'labels': labels, 'seed': seed, 'overrides': {}})
    (root / 'runs' / name).mkdir(parents=True)
    for fname, content in files.items():
      path = root / 'runs' / name / fname
      path.parent.mkdir(parents=True, exist_ok=True)
      if isinstance(content, Image.Image):
        content.save(path)
      else:
        path.write_text(content)
    (root / 'claims').mkdir(exist_ok=True)
    (root / 'claims' / f'{name}.json').write_text(json.dumps({'status': status}))
  (root / 'sweep.json').write_text(json.dumps(plan))


def test_aggregation_against_hand_computed_mean_and_standard_error(tmp_path):
  def run(modes, hq_rows, wall):
    evals = ''.join(json.dumps({'step': 100 * (i + 1), 'hq': h}) + '\n'
                    for i, h in enumerate(hq_rows))
    return {'eval.json': json.dumps({'modes': modes}), 'evals.jsonl': evals,
            'run_info.json': json.dumps({'wall_time_s': wall})}
  cells = {
      'loss=a__seed=0': ({'loss': 'a'}, 0, 'completed', run(1, [0.1, 0.5, 0.3], 10)),
      'loss=a__seed=1': ({'loss': 'a'}, 1, 'completed', run(2, [0.2, 0.4], 20)),
      'loss=a__seed=2': ({'loss': 'a'}, 2, 'completed', run(4, [0.9, 0.6], 60)),
      'loss=b__seed=0': ({'loss': 'b'}, 0, 'completed', run(8, [0.25], 5)),
      'loss=b__seed=1': ({'loss': 'b'}, 1, 'failed', run(0, [0.0], 5)),
  }
  metrics = [{'name': 'modes', 'key': 'modes', 'source': 'eval.json', 'mode': 'max'},
             {'name': 'hq', 'key': 'hq', 'source': 'evals.jsonl', 'mode': 'max', 'scale': 100.0}]
  _fake_sweep(tmp_path, cells, metrics)
  plan, rows = sweep_report.collect(tmp_path)
  groups = sweep_report.aggregate(plan, rows)
  a, b = groups
  # modes {1, 2, 4}: mean 7/3; sample variance ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 7/3,
  # so s.e. = sqrt(7/3) / sqrt(3) = sqrt(7) / 3 = 0.8819.
  assert a['metrics']['modes.final'] == pytest.approx((7 / 3, np.sqrt(7) / 3, 3))
  # hq final {30, 40, 60}% -> mean 43.33, s.e. sqrt(233.33 / 3) = 8.819; best {50, 40, 90}.
  assert a['metrics']['hq.final'] == pytest.approx((130 / 3, np.sqrt(700 / 3 / 3), 3))
  assert a['metrics']['hq.best'] == pytest.approx((60.0, np.sqrt(700 / 3), 3))
  # 95 % intervals: mean ± t(0.975, 2 df) s.e. with t = 4.302653 (a t-table's value).
  for column, (mean, se, _) in a['metrics'].items():
    assert a['ci95'][column] == pytest.approx([mean - 4.302653 * se, mean + 4.302653 * se])
  assert a['wall_time_s'] == pytest.approx(30.0)
  assert b['num_done'] == 1 and b['metrics']['modes.final'] == [8.0, None, 1]
  assert b['ci95']['modes.final'] is None
  table = sweep_report.markdown(plan, groups, rows)
  assert ('| a | 3/3 | 2.33 ± 0.88 [-1.46, 6.13] | 2.33 ± 0.88 [-1.46, 6.13] | '
          '43.3 ± 8.8 [5.39, 81.3] | 60 ± 15 [-5.72, 126] | 30 s |') in table
  assert '| b | 1/2 | 8 | 8 | 25 | 25 | 5 s |' in table
  assert 'Not in the table (not finished): loss=b__seed=1 (failed).' in table


def test_contact_sheet_is_laid_out_as_the_grid(tmp_path):
  colours = {('1', 'x'): (255, 0, 0), ('1', 'y'): (0, 255, 0), ('2', 'x'): (0, 0, 255)}
  cells = {}
  for (r, c), rgb in colours.items():
    for seed in (0, 1):
      img = Image.new('RGB', (40, 20), rgb if seed == 0 else (255, 255, 0))
      cells[f'r={r}__c={c}__seed={seed}'] = ({'r': r, 'c': c}, seed, 'done',
                                             {'samples/step_0000001.png': Image.new('RGB', (4, 4)),
                                              'samples/step_0000002.png': img})
  cells['r=2__c=y__seed=0'] = ({'r': '2', 'c': 'y'}, 0, 'failed', {})
  _fake_sweep(tmp_path, cells, [], image='samples/step_*.png')
  plan, rows = sweep_report.collect(tmp_path)
  tile = 60
  sheet = np.asarray(sweep_report.contact_sheet(tmp_path, plan, rows, tile=tile))

  # Each tile is its image (40 x 20) fitted to 60 x 30, centred in a 60 x 60 square.
  for (r, c), rgb in colours.items():
    mask = (sheet == np.array(rgb)).all(-1)
    ys, xs = np.nonzero(mask)
    assert mask.sum() == tile * tile // 2, (r, c)  # the last sample, seed 0 only
    assert xs.max() - xs.min() + 1 == tile and ys.max() - ys.min() + 1 == tile // 2
  red, green, blue = [np.argwhere((sheet == np.array(colours[k])).all(-1)).min(0)
                      for k in (('1', 'x'), ('1', 'y'), ('2', 'x'))]
  assert red[0] == green[0] and red[1] < green[1]      # same row, x left of y
  assert red[1] == blue[1] and red[0] < blue[0]        # same column, row 1 above row 2
  top, left = blue[0] - tile // 4, green[1]          # row 2, column y: the failed cell
  assert (sheet[top:top + tile, left:left + tile] == 200).all()  # a grey tile
  assert not (sheet == np.array([255, 255, 0])).all(-1).any()  # seed 1 is not shown
  assert (sheet[:red[0] - tile // 4] < 128).any()     # column labels above the tiles
  assert (sheet[:, :red[1]] < 128).any()              # row labels left of them


def test_a_stop_while_a_cell_finishes_anyway_starts_no_other_cell(tmp_path):
  kinds = {'a': {'series': '1', 'finish_on_term': True}, 'b': {'series': '2'}}
  sweep_file, ledger, root = _stub(tmp_path, kinds=kinds, seeds=(0,), sleep=3.0)
  worker = _run_cli('run', sweep_file, '--dir', root, wait=False)
  deadline = time.time() + 120
  while time.time() < deadline and worker.poll() is None and not _ledger(ledger):
    time.sleep(0.1)
  worker.send_signal(signal.SIGINT)
  out = worker.communicate(timeout=120)[0]
  assert worker.returncode == 130, out
  (name, _, started), (_, _, termed), (_, _, done) = _ledger(ledger)
  assert (started, termed, done) == ('start', 'term', 'done'), out   # no second cell
  assert sweeplib.SweepDir(root).state(name)['status'] == 'completed'


# -- a real run: interrupt and resume through the runner --------------------------

# A terminal's Ctrl-C; and a scheduler's SIGTERM to a runner started as a background job,
# which (with its cells) inherited an ignored SIGINT. Slow tier (~60 s each): the default
# run has the runner's stop and resume on the stub task (above) and a GAN run's interrupt
# and exact resume (tests/gan/test_task.py).
@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_interrupted_gan_cell_resumes_from_its_checkpoint(tmp_path, signum):
  sweep_file = tmp_path / 'gan_sweep.py'
  sweep_file.write_text(textwrap.dedent('''
      from jaxstyle.sweeps.spec import Axis, Metric, Sweep

      def get_sweep(arg=None):
        return Sweep(
            name='gan', config='experiments/configs/mixture_ring8.py:smoke',
            base={'train.num_steps': 150, 'train.batch_size': 64, 'checkpoint.every': 10, 'log.every': 10,
                  'eval.every': 50, 'log.sample_every': 150, 'log.tensorboard': False},
            axes=[Axis('loss', {'hinge': {'train.loss': 'hinge'}})],
            metrics=[Metric('modes', 'modes', 'evals.jsonl', 'max')],
            image='samples/step_*.png')
      '''))
  root = tmp_path / 'sweep'
  name = 'loss=hinge__seed=0'
  worker = _run_cli('run', sweep_file, '--dir', root, wait=False,
                    ignore_sigint=signum == signal.SIGTERM)
  ckpts = root / 'runs' / name / 'checkpoints'
  deadline = time.time() + 300
  while time.time() < deadline and worker.poll() is None and not (ckpts.exists() and any(
      p.name.isdigit() and int(p.name) >= 20 for p in ckpts.iterdir())):
    time.sleep(0.5)
  if worker.poll() is not None:  # nothing left to interrupt: say what the runner saw
    logs = [p.read_text()[-2000:] for p in (root / 'logs').glob('*')]
    pytest.fail(f'the cell ended before a checkpoint >= 20 was seen; checkpoints: '
                f'{sorted(p.name for p in ckpts.iterdir()) if ckpts.exists() else None}; '
                f'worker: {worker.communicate()[0]}; logs: {logs}')
  worker.send_signal(signum)
  out = worker.communicate(timeout=300)[0]
  assert worker.returncode == 130, out
  state = json.loads((root / 'claims' / f'{name}.json').read_text())
  assert state['status'] == 'interrupted'
  info = json.loads((root / 'runs' / name / 'run_info.json').read_text())
  assert info['status'] == 'interrupted'

  again = _run_cli('run', sweep_file, '--dir', root)
  assert again.returncode == 0, again.stdout
  info = json.loads((root / 'runs' / name / 'run_info.json').read_text())
  assert info['status'] == 'completed' and info['resumed_from_step'] >= 20
  evals = [json.loads(l) for l in (root / 'runs' / name / 'evals.jsonl').read_text().splitlines()]
  assert [e['step'] for e in evals] == [50, 100, 150]
  report = _run_cli('report', root)
  assert report.returncode == 0, report.stderr
  table = (root / 'table.md').read_text()
  final, best = evals[-1]['modes'], max(e['modes'] for e in evals)
  assert f'| hinge | 1/1 | {final:g} | {best:g} |' in table
  assert (root / 'sheet.png').exists()


_SHIPPED = [
    ('gan_mixtures_ablation', 60),
    ('gan_mixtures_ablation:steps=100,seeds=5', 100),
    ('gatys_fig2:images=imgs,backbone=hed', 4),
    ('gatys_fig3', 20),
    ('gatys_fig5_6', 8),
    ('gatys2017_controls', 8),
    ('gatys_examples:images=imgs', 9),
    ('gan_mixtures', 6),
    ('gan_mixtures:steps=100,seeds=5', 10),
    ('gan_mnist', 2),
    ('gan_conditional_mnist', 18),
    ('gan_conditional_mnist:dcgan_steps=150,sngan_steps=40,seeds=2,samples=2000', 12),
    ('gan_conditional_mixtures', 18),
]


@pytest.mark.parametrize('spec,cells', _SHIPPED)
def test_the_shipped_sweeps_expand_against_their_configs(spec, cells):
  sweep = sweeplib.load_sweep(spec)
  expanded = sweeplib.expand(sweep)
  assert len(expanded) == cells
  sweeplib.check_overrides(sweep, expanded)


def test_every_shipped_sweep_file_is_tested_above():
  from jaxstyle.runtime import config as config_lib
  tested = {spec.split(':')[0] for spec, _ in _SHIPPED}
  assert set(config_lib.shipped(config_lib.SWEEP_GROUP)) == tested


def test_figure_sweeps_reproduce_the_runs_of_the_old_figure_scripts():
  """The figure scripts' sweeps run what the scripts' own loops ran before."""
  mixtures = {c.name: (c.config, c.overrides) for c in sweeplib.expand(
      sweeplib.load_sweep('gan_mixtures:steps=10000,seeds=3'))}
  assert mixtures['data=grid25__seed=2'] == ('mixture_ring8', {
      'train.num_steps': 10000, 'checkpoint.every': 1000, 'log.sample_every': 10000,
      'data.name': 'grid25', 'seed': 2, 'data.order_seed': 2})
  mnist = {c.labels['model']: (c.config, c.overrides['train.num_steps']) for c in
           sweeplib.expand(sweeplib.load_sweep('gan_mnist:goodfellow_steps=7,dcgan_steps=3'))}
  assert mnist == {'goodfellow': ('goodfellow_mnist:shared10k', 7),
                   'dcgan28': ('dcgan_mnist:shared10k', 3)}
  examples = {c.labels['run']: c for c in sweeplib.expand(
      sweeplib.load_sweep('gatys_examples:images=imgs'))}
  assert examples['texture_starry_night'].config == 'gatys:hed,texture'
  assert examples['texture_starry_night'].overrides['content_image'] == ''
  assert examples['sweep_style_weight_0.01'].overrides['style_weight'] == 0.01


def test_paper_ratios_apply_only_under_the_paper_conventions():
  cells = {c.name: c.overrides for c in sweeplib.expand(
      sweeplib.load_sweep('gatys_fig2:images=imgs'))}
  paper = cells['style=starry_night__conventions=paper__seed=0']
  assert paper['style_weight'] == pytest.approx(1 / 8e-4) and paper['loss_form'] == 'sum'
  assert paper['style_images'] == 'imgs/starry_night.jpg'
  assert cells['style=shipwreck__conventions=paper__seed=0']['style_weight'] == pytest.approx(1e3)
  reference = cells['style=starry_night__conventions=reference__seed=0']
  assert reference['style_weight'] == 1e3 and reference['loss_form'] == 'mean'
  with pytest.raises(ConfigError, match='unknown sweep option'):
    sweeplib.load_sweep('gatys_fig2:imgs=x')
