"""``jaxstyle reproduce``: a small real GAN sweep rerun from its sweep directory, its
results folder and a run directory; equal on the same machine, a deliberately changed
setting reported as outside the recorded seeds' spread; verdicts and command rewriting
against hand-made cases; bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxstyle import cli
from jaxstyle.errors import ConfigError
from jaxstyle.sweeps import reproduce, stats

REPO = Path(__file__).resolve().parents[2]

GAN_SWEEP = '''
from jaxstyle.sweeps.spec import Axis, Metric, Sweep

def get_sweep(arg=None):
  return Sweep(
      name='tiny_gan', config='mixture_ring8',
      base={'train.num_steps': 12, 'log.every': 12, 'eval.every': 12,
            'checkpoint.every': 12, 'log.sample_every': 12, 'log.tensorboard': False},
      axes=[Axis.of('train.loss', ['non_saturating'], name='loss')],
      seeds=(0, 1, 2),
      metrics=[Metric('g_loss', 'g_loss', 'metrics.jsonl', 'min'),
               Metric('d_loss', 'd_loss', 'metrics.jsonl', 'min')])
'''


def _cli(*args):
  env = {**os.environ, 'PYTHONPATH': str(REPO), 'JAX_NUM_CPU_DEVICES': '1'}
  return subprocess.run([sys.executable, '-m', 'jaxstyle', *map(str, args)], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=900)


def test_gan_sweep_reruns_equal_and_a_changed_setting_falls_outside(tmp_path):
  """A 3-seed GAN sweep (12 steps of PacGAN's ring), run, reported into results/, then
  reproduced from the results folder (bitwise equal), from the sweep directory with the
  loss changed (outside the seeds' spread) and, dry, from one run directory."""
  (tmp_path / 'tiny_gan.py').write_text(GAN_SWEEP)
  ran = _cli('sweep', 'run', tmp_path / 'tiny_gan.py', '--dir', tmp_path / 'sweep',
             '--workers', 2)
  assert ran.returncode == 0, ran.stdout + ran.stderr
  reported = _cli('sweep', 'report', tmp_path / 'sweep', '--out', tmp_path / 'results')
  assert reported.returncode == 0, reported.stderr
  runs = tmp_path / 'sweep' / 'runs'
  last = {s: json.loads((runs / f'loss=non_saturating__seed={s}' / 'metrics.jsonl')
                        .read_text().splitlines()[-1]) for s in range(3)}

  # 1. The results folder alone, first cell: every number bit for bit.
  out = tmp_path / 'again'
  r = _cli('reproduce', tmp_path / 'results', '--limit', 1, '--out', out)
  assert r.returncode == 0, r.stdout + r.stderr
  doc = json.loads((out / 'reproduce.json').read_text())
  assert doc['kind'] == 'results' and len(doc['results']) == 1
  result = doc['results'][0]
  assert result['name'] == 'loss=non_saturating__seed=0'
  assert result['metrics']['g_loss.final']['recorded'] == last[0]['g_loss']
  assert {m['verdict'] for m in result['metrics'].values()} == {'equal'}
  assert len(result['metrics']) == 4 and result['fingerprint_difference'] == []
  assert 'equal 4; fingerprint same' in r.stdout
  assert (out / 'reproduce.md').read_text().count('| equal |') == 4

  # 2. The sweep directory, seed 1, with least squares instead of the non-saturating
  # loss: g_loss is on another scale, outside the recorded seeds' prediction interval.
  out = tmp_path / 'changed'
  r = _cli('reproduce', tmp_path / 'sweep', '--cells', 'seed=1', '--out', out,
           '--config.train.loss=least_squares')
  assert r.returncode == 1, r.stdout + r.stderr
  doc = json.loads((out / 'reproduce.json').read_text())
  assert doc['kind'] == 'sweep' and doc['overrides'] == ['--config.train.loss=least_squares']
  g = doc['results'][0]['metrics']['g_loss.final']
  assert g['verdict'] == 'outside' and g['seeds'] == 3
  seeds = [last[s]['g_loss'] for s in range(3)]
  assert g['interval'] == pytest.approx(list(stats.prediction_interval(seeds)), rel=1e-12)
  assert not g['interval'][0] <= g['rerun'] <= g['interval'][1]
  assert 'outside' in r.stdout

  # 3. One run directory: its own recorded command, every logged number but timings.
  run_dir = runs / 'loss=non_saturating__seed=2'
  kind, recorded = reproduce.load(run_dir)
  assert kind == 'run' and recorded[0].numbers['metrics.jsonl:step'] == 12
  assert recorded[0].numbers['metrics.jsonl:g_loss'] == last[2]['g_loss']
  assert 'metrics.jsonl:steps_per_sec' not in recorded[0].numbers
  argv = reproduce.with_workdir(recorded[0].command, tmp_path / 'o')
  assert argv[:4] == [sys.executable, '-m', 'jaxstyle', 'run'] and '--config.seed=2' in argv


def test_bad_input_is_one_error_line(tmp_path, capsys):
  results = tmp_path / 'results'
  results.mkdir()
  (results / 'summary.json').write_text(json.dumps({
      'metrics': [{'name': 'loss', 'key': 'loss', 'source': 'metrics.jsonl', 'mode': 'min'}],
      'cells': [{'name': 'a__seed=0', 'labels': {'a': 'x'}, 'seed': 0, 'status': 'completed',
                 'command': 'python -m jaxstyle run gatys --workdir=w',
                 'metrics': {'loss': [1.0, 0.5]}}]}))
  assert cli.main(['reproduce', str(results), '--dry-run', '--out', str(tmp_path / 'o')]) == 0
  assert capsys.readouterr().out.strip().endswith(f'--workdir={tmp_path / "o/runs/a__seed=0"}')
  (tmp_path / 'empty').mkdir()
  for args, message in (
      ([tmp_path / 'nothing'], 'is not a directory'),
      ([tmp_path / 'empty'], 'nothing to rerun'),
      ([results, '--cells', 'seed=7'], 'matches no recorded run'),
      ([results, '--cells', '('], 'not a regular expression'),
      ([results, '--limit', 0], '--limit must be >= 1')):
    assert cli.main(['reproduce', *map(str, args)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and message in lines[0], lines


def test_verdicts_and_command_rewriting():
  seeds = [1.0, 2.0, 3.0]          # mean 2, sd 1: interval 2 ± 4.302653 * sqrt(4/3)
  half = 4.302653 * (4 / 3) ** 0.5
  assert reproduce.verdict(2.5, 2.5, seeds) == {'verdict': 'equal'}
  within = reproduce.verdict(2.5, 2.0 + half - 0.01, seeds)
  assert within['verdict'] == 'within' and within['interval'] == pytest.approx(
      [2 - half, 2 + half], rel=1e-6)
  assert reproduce.verdict(2.5, 2.0 + half + 0.01, seeds)['verdict'] == 'outside'
  assert reproduce.verdict(2.5, 2.6, [2.5])['verdict'] == 'differs'
  assert reproduce.verdict(2.5, None, seeds)['verdict'] == 'missing'
  assert reproduce.with_workdir(['x', '--workdir', 'a', '--k=1'], Path('b')) == \
      ['x', '--k=1', '--workdir=b']
  assert reproduce.with_workdir(['x', '--workdir=a'], Path('b')) == ['x', '--workdir=b']
  assert reproduce._argv('python -m jaxstyle run c --workdir=w')[:3] == \
      [sys.executable, '-m', 'jaxstyle']
  assert reproduce._argv(['/x/jaxstyle/__main__.py', 'run', 'c'])[:4] == \
      [sys.executable, '-m', 'jaxstyle', 'run']
  with pytest.raises(ConfigError, match='empty'):
    reproduce._argv('')


def test_report_of_part_of_a_sweep():
  from jaxstyle.sweeps import report
  plan = {'name': 's', 'axes': [{'name': 'data', 'labels': ['ring8', 'grid25']},
                                {'name': 'loss', 'labels': ['a', 'b']}],
          'cells': [{'name': f'data={d}__loss={l}__seed=0'} for d in ('ring8', 'grid25')
                    for l in ('a', 'b')]}
  rows = [{'name': c['name'], 'labels': dict(zip(('data', 'loss'), c['name'].split('__')[:2]))}
          for c in plan['cells']]
  for r in rows:
    r['labels'] = {k: v.split('=')[1] for k, v in r['labels'].items()}
  part, kept = report.subset(plan, rows, 'data=ring8')
  assert [r['name'] for r in kept] == ['data=ring8__loss=a__seed=0', 'data=ring8__loss=b__seed=0']
  assert part['axes'] == [{'name': 'data', 'labels': ['ring8']},
                          {'name': 'loss', 'labels': ['a', 'b']}]
  assert [c['name'] for c in part['cells']] == [r['name'] for r in kept]
  with pytest.raises(ConfigError, match='matches no cell'):
    report.subset(plan, rows, 'data=moons')
  with pytest.raises(ConfigError, match='not a regular expression'):
    report.subset(plan, rows, '(')
