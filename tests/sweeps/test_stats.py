"""Sweep statistics: the Student-t distribution, intervals, Welch's test and Holm against
t-tables, closed forms and hand computations (scipy.stats, where installed, as a second
reference); the report's intervals, baseline comparison and fingerprint warnings on a
sweep directory written by hand."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from jaxstyle import cli
from jaxstyle.errors import ConfigError
from jaxstyle.sweeps import report as sweep_report
from jaxstyle.sweeps import stats

# -- the t distribution ------------------------------------------------------------


@pytest.mark.parametrize('q, df, expected', [
    (0.975, 2, 4.302653), (0.975, 4, 2.776445), (0.975, 9, 2.262157),   # t-table
    (0.995, 9, 3.249836), (0.95, 30, 1.697261), (0.975, math.inf, 1.959964),
    (0.95, 1, math.tan(0.45 * math.pi)),   # Cauchy: F(t) = 1/2 + atan(t) / pi
])
def test_t_quantiles_match_the_tables(q, df, expected):
  assert stats.t_ppf(q, df) == pytest.approx(expected, abs=5e-7)
  assert stats.t_ppf(1 - q, df) == pytest.approx(-expected, abs=5e-7)   # symmetric
  assert stats.t_cdf(expected, df) == pytest.approx(q, abs=1e-7)


def test_t_cdf_matches_closed_forms():
  # df = 1: 1/2 + atan(t)/pi; df = 2: 1/2 + t / (2 sqrt(2 + t^2));
  # df = 3: 1/2 + (u / (1 + u^2) + atan(u)) / pi with u = t / sqrt(3);
  # df = 4: 1/2 + (3/8) (t / sqrt(1 + t^2/4)) (1 - t^2 / (12 (1 + t^2/4))).
  for t in (-7.5, -2.0, -0.3, 0.0, 0.4, 1.0, 3.0, 12.0):
    u = t / math.sqrt(3)
    forms = {1: 0.5 + math.atan(t) / math.pi, 2: 0.5 + t / (2 * math.sqrt(2 + t * t)),
             3: 0.5 + (u / (1 + u * u) + math.atan(u)) / math.pi,
             4: 0.5 + 3 / 8 * t / math.sqrt(1 + t * t / 4) * (1 - t * t / (12 * (1 + t * t / 4)))}
    for df, expected in forms.items():
      assert stats.t_cdf(t, df) == pytest.approx(expected, abs=1e-13), (t, df)
  assert stats.t_cdf(0.0, 2.94) == 0.5 and stats.t_ppf(0.5, 2.94) == 0.0
  assert stats.t_cdf(math.inf, 3) == 1.0 and stats.t_cdf(-math.inf, 3) == 0.0


def test_t_ppf_inverts_t_cdf_for_real_degrees_of_freedom():
  for df in (0.7, 1.3, 2.941, 7.25, 55.5):
    for q in (1e-9, 0.01, 0.2, 0.6, 0.975, 1 - 1e-9):
      assert stats.t_cdf(stats.t_ppf(q, df), df) == pytest.approx(q, rel=1e-9, abs=1e-15)


def test_t_distribution_against_scipy():
  scipy_stats = pytest.importorskip('scipy.stats')
  for df in (0.3, 1, 1.7, 2.941, 4, 9, 30.5, 123.4, 1000):
    for t in (-40.0, -3.1, -1.0, -0.05, 0.0, 0.7, 2.2, 5.0, 60.0):
      assert stats.t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-12)
      # Upper tails keep their relative accuracy (p-values of far-apart groups).
      assert stats.t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9)
    for q in (1e-10, 0.025, 0.3, 0.5, 0.8, 0.975, 0.9999):
      assert stats.t_ppf(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-9, abs=1e-12)


def test_bad_arguments_are_one_line_config_errors():
  for call in (lambda: stats.t_cdf(1.0, 0), lambda: stats.t_ppf(0.5, -1),
               lambda: stats.t_ppf(1.0, 3), lambda: stats.t_ppf(0.0, 3),
               lambda: stats.mean_ci([1, 2], level=1.5), lambda: stats.mean_ci([]),
               lambda: stats.welch([1, 2, math.nan], [1, 2])):
    with pytest.raises(ConfigError) as e:
      call()
    assert '\n' not in str(e.value)


# -- intervals -----------------------------------------------------------------------

def test_mean_ci_by_hand():
  # {1, 2, 4}: mean 7/3, sample variance ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 7/3,
  # s.e. sqrt(7/3 / 3) = sqrt(7)/3 = 0.881917; t(0.975, 2) = 4.302653 -> ± 3.794584.
  mean, se, lo, hi, n = stats.mean_ci([1, 2, 4])
  assert (mean, se, n) == pytest.approx((7 / 3, math.sqrt(7) / 3, 3))
  assert (lo, hi) == pytest.approx((7 / 3 - 3.794584, 7 / 3 + 3.794584), abs=1e-6)
  # 90 %: t(0.95, 2) = 2.919986.
  assert stats.mean_ci([1, 2, 4], 0.9)[2] == pytest.approx(7 / 3 - 2.919986 * se, abs=1e-6)
  assert stats.mean_ci([5.0]) == (5.0, None, None, None, 1)
  assert stats.mean_ci([2.0, 2.0, 2.0])[1:4] == (0.0, 2.0, 2.0)


def test_prediction_interval_by_hand_and_by_coverage():
  # {1, 2, 3}: mean 2, sd 1; t(0.975, 2) * 1 * sqrt(1 + 1/3) = 4.302653 * 1.154701 = 4.968276.
  assert stats.prediction_interval([1, 2, 3]) == pytest.approx((2 - 4.968276, 2 + 4.968276))
  assert stats.prediction_interval([3.0]) is None
  # Under a normal model ONE new draw falls inside with probability `level` exactly.
  rng = np.random.default_rng(0)
  draws = rng.normal(size=(2000, 6))
  inside = [lo <= row[-1] <= hi for row in draws
            for lo, hi in [stats.prediction_interval(row[:-1])]]
  assert np.mean(inside) == pytest.approx(0.95, abs=0.017)  # 3.5 binomial s.d.
  scipy_stats = pytest.importorskip('scipy.stats')
  x = [0.3, 1.9, 2.2, 4.0, 1.1]
  expected = scipy_stats.t.interval(0.9, 4, loc=np.mean(x),
                                    scale=np.std(x, ddof=1) * math.sqrt(1 + 1 / 5))
  assert stats.prediction_interval(x, 0.9) == pytest.approx(expected, rel=1e-10)


# -- Welch's t-test ------------------------------------------------------------------

def test_welch_by_hand():
  # a = {1, 2, 3}, b = {4, 5, 6}: diff -3; var 1 each, so se^2 = 1/3 + 1/3 = 2/3, se = 0.816497;
  # df = (2/3)^2 / ((1/3)^2 / 2 + (1/3)^2 / 2) = 4; t = -3 / 0.816497 = -3.674235 (t^2 = 13.5).
  # p = 2 (1 - F4(3.674235)) with the closed form for df = 4:
  # F4 = 1/2 + 3/8 * (3.674235 / sqrt(4.375)) * (1 - 13.5 / 52.5) = 1/2 + 3/8 * 1.756620 * 0.742857
  #    = 0.989344, so p = 0.021312.
  # CI: -3 ± t(0.975, 4) se = -3 ± 2.776445 * 0.816497 = -3 ± 2.266958.
  r = stats.welch([1, 2, 3], [4, 5, 6])
  assert (r['diff'], r['se'], r['df'], r['t']) == pytest.approx((-3, 0.816497, 4, -3.674235),
                                                              abs=1e-6)
  assert r['p'] == pytest.approx(0.021312, abs=1e-6)
  assert (r['lo'], r['hi']) == pytest.approx((-5.266958, -0.733042), abs=1e-6)
  # Unequal variances: b = {4, 6, 8} (var 4): se^2 = 1/3 + 4/3 = 5/3, t = -4 / 1.290994
  # = -3.098387, df = (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = (25/9) / (17/18) = 50/17.
  r = stats.welch([1, 2, 3], [4, 6, 8])
  assert (r['t'], r['df']) == pytest.approx((-3.098387, 50 / 17), abs=1e-6)


def test_welch_against_scipy():
  scipy_stats = pytest.importorskip('scipy.stats')
  rng = np.random.default_rng(1)
  for na, nb, shift, scale in ((3, 3, 1.0, 1.0), (3, 7, 0.2, 4.0), (10, 4, -2.5, 0.3),
                               (2, 2, 5.0, 1.0), (25, 30, 0.1, 1.0)):
    a, b = rng.normal(shift, 1.0, na), rng.normal(0.0, scale, nb)
    r = stats.welch(a, b)
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (r['t'], r['df'], r['p']) == pytest.approx((ref.statistic, ref.df, ref.pvalue),
                                                      rel=1e-8)
    assert (r['lo'], r['hi']) == pytest.approx((ci.low, ci.high), rel=1e-8)


def test_welch_edge_cases():
  a, b = [1.0, 2.5, 4.0], [0.5, 1.0, 3.0, 3.5]
  ab, ba = stats.welch(a, b), stats.welch(b, a)
  assert ba['diff'] == -ab['diff'] and ba['p'] == pytest.approx(ab['p'])
  assert (ba['lo'], ba['hi']) == pytest.approx((-ab['hi'], -ab['lo']))
  same = stats.welch(a, a)
  assert (same['diff'], same['t'], same['p']) == (0.0, 0.0, 1.0)
  # Zero variance on both sides: equal means never differ, different means never overlap.
  assert stats.welch([2, 2, 2], [2, 2])['p'] == 1.0
  apart = stats.welch([3, 3, 3], [2, 2])
  assert (apart['p'], apart['t'], apart['lo'], apart['hi']) == (0.0, math.inf, 1.0, 1.0)
  # Zero variance on one side: Welch-Satterthwaite leaves the other side's n - 1.
  assert stats.welch([2, 2, 2], [1, 2, 3, 4])['df'] == pytest.approx(3)
  assert stats.welch([1.0], [1, 2, 3]) is None and stats.welch([1, 2], [7.0]) is None


def test_holm_by_hand():
  # m = 4; sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005 = 0.02, 3*0.01 = 0.03, 2*0.03 = 0.06,
  # max(0.06, 1*0.04) = 0.06 (adjusted p-values never decrease along the order).
  assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
  assert stats.holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
  assert stats.holm([]) == []


# -- the report ----------------------------------------------------------------------

FP_A = {'id': 'a1b2c3d4e5f6', 'cpu': {'model': 'AMD EPYC 7B13', 'isa': ['avx2', 'fma']},
        'intra_op_threads': 2, 'device_kind': 'cpu', 'device_count': 1,
        'determinism': {'deterministic': True}, 'xla_flags': '', 'versions': {'jax': '0.10.2'}}
FP_B = {**FP_A, 'id': '99ff00aa11bb', 'cpu': {'model': 'Intel Xeon Platinum 8481C'},
        'intra_op_threads': 8}

# data x loss, 3 seeds, one number per run; the sweep's baseline is loss=ns.
VALUES = {('d1', 'ns'): [1, 2, 3], ('d1', 'hinge'): [4, 5, 6], ('d1', 'ls'): [1.5, 2.5, 3.5],
          ('d2', 'ns'): [10, 11, 12], ('d2', 'hinge'): [30, 30.1, 29.9],
          ('d2', 'ls'): [10.5, 11.5, 12.5]}


def _sweep(root: Path, fingerprints=None, baseline=None, extra_labels=()) -> Path:
  """A finished sweep directory written by hand: sweep.json, claims, run directories with
  evals.jsonl and run_info.json (``fingerprints``: {(data, loss, seed): record or None})."""
  fingerprints = fingerprints or {}
  losses = ['ns', 'hinge', 'ls', *extra_labels]
  plan = {'name': 'toy', 'config': 'mixture_ring8', 'description': '',
          'axes': [{'name': 'data', 'labels': ['d1', 'd2']}, {'name': 'loss', 'labels': losses}],
          'seeds': [0, 1, 2], 'image': '', 'baseline': baseline,
          'metrics': [{'name': 'modes', 'key': 'modes', 'source': 'evals.jsonl', 'mode': 'max',
                       'scale': 1.0}], 'cells': []}
  for (data, loss), values in VALUES.items():
    for seed, value in enumerate(values):
      name = f'data={data}__loss={loss}__seed={seed}'
      overrides = {'data.name': data, 'train.loss': loss, 'seed': seed}
      plan['cells'].append({'name': name, 'labels': {'data': data, 'loss': loss}, 'seed': seed,
                            'overrides': overrides, 'config': 'mixture_ring8',
                            'command': f'python -m jaxstyle run mixture_ring8 --workdir={name}'})
      run = root / 'runs' / name
      run.mkdir(parents=True)
      # Two evaluations: best (max) and final are both the second one.
      (run / 'evals.jsonl').write_text(json.dumps({'step': 1, 'modes': value - 5}) + '\n'
                                       + json.dumps({'step': 2, 'modes': value}) + '\n')
      info = {'wall_time_s': 60.0, 'device_kind': 'cpu', 'devices': ['cpu:0'], 'cpu_count': 2}
      record = fingerprints.get((data, loss, seed), FP_A)
      if record is not None:
        info['fingerprint'] = record
      (run / 'run_info.json').write_text(json.dumps(info))
      (root / 'claims').mkdir(exist_ok=True)
      (root / 'claims' / f'{name}.json').write_text(json.dumps({'status': 'completed'}))
  (root / 'sweep.json').write_text(json.dumps(plan))
  return root


def _report(root: Path, out: Path, *args) -> tuple[str, dict]:
  assert cli.main(['sweep', 'report', str(root), '--out', str(out), *args]) == 0
  return (out / 'table.md').read_text(), json.loads((out / 'summary.json').read_text())


def _row(table: str, *labels: str) -> str:
  start = '| ' + ' | '.join(labels) + ' |'
  found = [line for line in table.splitlines() if line.startswith(start)]
  assert len(found) >= 1, (start, table)
  return found


def test_report_intervals_and_baseline_comparison(tmp_path):
  root = _sweep(tmp_path / 'sweep', baseline={'loss': 'ns'})
  table, summary = _report(root, tmp_path / 'out')
  groups = {tuple(g['labels'].values()): g for g in summary['groups']}

  # {1, 2, 3}: mean 2, s.e. 1/sqrt(3) = 0.57735; ± 4.302653 * 0.57735 = ± 2.484138.
  base = groups[('d1', 'ns')]
  assert base['metrics']['modes.final'] == pytest.approx([2.0, 1 / math.sqrt(3), 3])
  assert base['ci95']['modes.final'] == pytest.approx([2 - 2.484138, 2 + 2.484138])
  assert '[95% confidence interval of the mean' in table
  assert _row(table, 'd1', 'ns', '3/3')[0] == \
      '| d1 | ns | 3/3 | 2 ± 0.58 [-0.484, 4.48] | 2 ± 0.58 [-0.484, 4.48] | 60 s |'

  # The baseline against itself: difference 0, p = 1, not one of the tests.
  vs = base['vs_baseline']
  assert vs['is_baseline'] and vs['baseline'] == {'data': 'd1', 'loss': 'ns'}
  same = vs['metrics']['modes.final']
  assert (same['diff'], same['p'], same['p_holm']) == (0.0, 1.0, None)
  # d1/hinge {4, 5, 6} against d1/ns {1, 2, 3}: diff 3, p = 0.021312 (test_welch_by_hand).
  hinge = groups[('d1', 'hinge')]['vs_baseline']
  assert hinge['baseline'] == {'data': 'd1', 'loss': 'ns'}
  r = hinge['metrics']['modes.final']
  assert (r['diff'], r['df'], r['p']) == pytest.approx((3, 4, 0.021312), abs=1e-6)
  assert (r['lo'], r['hi']) == pytest.approx((0.733042, 5.266958), abs=1e-6)
  # 8 tests (hinge and ls x 2 data sets x final/best). Sorted, d1/hinge's two p = 0.021312
  # come third and fourth, after d2/hinge's two, so Holm multiplies the first by 8 - 2 = 6
  # and the second keeps that running maximum (5 x 0.021312 is smaller): 0.127872 > 0.05.
  assert summary['baseline'] == {'labels': {'loss': 'ns'}, 'alpha': 0.05, 'level': 0.95,
                                 'num_tests': 8}
  assert r['significant'] and not r['significant_holm']
  assert r['p_holm'] == pytest.approx(6 * 0.021312, abs=1e-5)
  # d2/hinge is compared with d2/ns (its own data set), and is far away.
  far = groups[('d2', 'hinge')]['vs_baseline']
  assert far['baseline'] == {'data': 'd2', 'loss': 'ns'}
  assert far['metrics']['modes.best']['significant_holm']
  assert not groups[('d1', 'ls')]['vs_baseline']['metrics']['modes.final']['significant']

  comparison = table[table.index('## Difference from the baseline'):]
  assert 'Baseline: loss=ns (each data against its own)' in comparison
  assert _row(comparison, 'd1', 'ns')[0] == '| d1 | ns | baseline | baseline |'
  assert _row(comparison, 'd1', 'hinge')[0] == \
      '| d1 | hinge | +3 [0.733, 5.27] p=0.021 * | +3 [0.733, 5.27] p=0.021 * |'
  assert _row(comparison, 'd2', 'hinge')[0].endswith('p<0.001 *† |')
  assert 'p=0.57 |' in _row(comparison, 'd1', 'ls')[0]
  assert 'With 8 comparisons at p < 0.05, about 0.4 would be marked *' in comparison
  assert 'Holm–Bonferroni' in comparison

  # --baseline overrides the sweep's; '' turns the comparison off.
  table, summary = _report(root, tmp_path / 'out2', '--baseline', 'loss=hinge')
  groups = {tuple(g['labels'].values()): g for g in summary['groups']}
  back = groups[('d1', 'ns')]['vs_baseline']['metrics']['modes.final']
  assert back['diff'] == pytest.approx(-3) and back['p'] == pytest.approx(r['p'])
  assert groups[('d1', 'hinge')]['vs_baseline']['is_baseline']
  table, summary = _report(root, tmp_path / 'out3', '--baseline', '')
  assert summary['baseline'] is None and '## Difference' not in table
  assert 'vs_baseline' not in summary['groups'][0]


def test_report_baseline_on_every_axis_and_cells_to_rerun(tmp_path):
  root = _sweep(tmp_path / 'sweep')   # no baseline in the sweep
  table, summary = _report(root, tmp_path / 'out')
  assert summary['baseline'] is None and '## Difference' not in table
  for cell, entry in zip(summary['cells'], json.loads((root / 'sweep.json').read_text())['cells']):
    assert cell['name'] == entry['name'] and cell['fingerprint'] == FP_A['id']
    assert (cell['command'], cell['config'], cell['overrides']) == \
        (entry['command'], entry['config'], entry['overrides'])
    assert 'fingerprint_info' not in cell      # the records are in summary['fingerprints']
  table, summary = _report(root, tmp_path / 'out2', '--baseline', 'data=d1,loss=ns')
  vs = {tuple(g['labels'].values()): g['vs_baseline'] for g in summary['groups']}
  assert all(v['baseline'] == {'data': 'd1', 'loss': 'ns'} for v in vs.values())
  # d2/ns {10, 11, 12} - d1/ns {1, 2, 3}: diff 9, se sqrt(2/3), df 4.
  assert vs[('d2', 'ns')]['metrics']['modes.final']['diff'] == pytest.approx(9)
  assert summary['baseline']['num_tests'] == 10
  assert 'Baseline: data=d1, loss=ns.' in table


@pytest.mark.parametrize('baseline, message', [
    ('los=ns', "sweep toy has no axis 'los'; its axes are data, loss"),
    ('loss=nss', "axis loss has no label 'nss'; its labels are ns, hinge, ls, wgan"),
    ('loss', 'give AXIS=LABEL pairs'),
    ('loss=ns,loss=ls', 'give AXIS=LABEL pairs, each axis once'),
    ('loss=wgan', 'no cell of sweep toy has these labels; the axes and labels are '
                  'data: d1, d2; loss: ns, hinge, ls, wgan'),
])
def test_bad_baseline_is_a_one_line_error(tmp_path, capsys, baseline, message):
  root = _sweep(tmp_path / 'sweep', extra_labels=('wgan',))   # an axis label without cells
  assert cli.main(['sweep', 'report', str(root), '--out', str(tmp_path / 'o'),
                   '--baseline', baseline]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
  assert not (tmp_path / 'o' / 'table.md').exists()


def test_bad_baseline_in_the_sweep_is_an_error_too(tmp_path):
  root = _sweep(tmp_path / 'sweep', baseline={'sn': 'off'})
  plan, rows = sweep_report.collect(root)
  with pytest.raises(ConfigError, match="has no axis 'sn'; its axes are data, loss"):
    sweep_report.resolve_baseline(plan, rows, plan['baseline'])


def test_one_fingerprint_gives_no_warning(tmp_path):
  table, summary = _report(_sweep(tmp_path / 'sweep'), tmp_path / 'out')
  assert ('- `a1b2c3d4e5f6`: 18 cells; CPU AMD EPYC 7B13; intra-op threads 2; devices '
          '1 x cpu; determinism on') in table
  assert 'Warning' not in table and '‡' not in table
  assert summary['fingerprints'] == {FP_A['id']: FP_A}
  assert summary['majority_fingerprint'] == FP_A['id']
  assert not any(g['mixed_fingerprints'] for g in summary['groups'])


def test_mixed_fingerprints_are_listed_warned_and_marked(tmp_path):
  # d1/hinge seed 2 ran on another machine; d2/ls ran entirely there; d2/hinge is an old
  # run directory without a fingerprint.
  fps = {('d1', 'hinge', 2): FP_B, **{('d2', 'ls', s): FP_B for s in range(3)},
         **{('d2', 'hinge', s): None for s in range(3)}}
  root = _sweep(tmp_path / 'sweep', fingerprints=fps, baseline={'loss': 'ns'})
  table, summary = _report(root, tmp_path / 'out')
  assert ('- `a1b2c3d4e5f6`: 11 cells; CPU AMD EPYC 7B13; intra-op threads 2; devices '
          '1 x cpu; determinism on') in table
  assert ('- `99ff00aa11bb`: 4 cells; CPU Intel Xeon Platinum 8481C; intra-op threads 8; '
          'devices 1 x cpu; determinism on') in table
  assert '- `unrecorded`: 3 cells; not recorded' in table
  assert '**Warning: the completed cells were made under 3 different fingerprints' in table
  marked = {line.split(' | ')[0][2:] + '/' + line.split(' | ')[1]
            for line in table.split('## Difference')[0].splitlines()
            if line.startswith('| d') and '3/3 ‡' in line}
  assert marked == {'d1/hinge', 'd2/hinge', 'd2/ls'}
  assert "‡ seeds made under more than one fingerprint, or under another than the " \
         "majority's (`a1b2c3d4e5f6`)" in table

  assert summary['fingerprints'] == {FP_A['id']: FP_A, FP_B['id']: FP_B,
                                     'unrecorded': {'id': 'unrecorded'}}
  groups = {tuple(g['labels'].values()): g for g in summary['groups']}
  assert groups[('d1', 'hinge')]['fingerprints'] == {FP_A['id']: 2, FP_B['id']: 1}
  assert groups[('d1', 'hinge')]['mixed_fingerprints']
  assert not groups[('d1', 'ns')]['mixed_fingerprints']
  cells = {c['name']: c['fingerprint'] for c in summary['cells']}
  assert cells['data=d1__loss=hinge__seed=2'] == FP_B['id']
  assert cells['data=d2__loss=hinge__seed=0'] == 'unrecorded'


def test_unfinished_and_unrun_cells(tmp_path):
  root = _sweep(tmp_path / 'sweep', baseline={'loss': 'ns'})
  # d1/ns keeps one seed, so its group has no interval and d1's comparisons cannot run.
  for seed in (1, 2):
    name = f'data=d1__loss=ns__seed={seed}'
    (root / 'claims' / f'{name}.json').write_text(json.dumps({'status': 'pending'}))
    for f in (root / 'runs' / name).iterdir():
      f.unlink()
  table, summary = _report(root, tmp_path / 'out')
  assert _row(table, 'd1', 'ns', '1/3')[0] == '| d1 | ns | 1/3 | 1 | 1 | 60 s |'
  assert 'Not in the table (not finished): data=d1__loss=ns__seed=1 (pending), ' in table
  assert _row(table, 'd1', 'hinge')[-1] == '| d1 | hinge | n/a | n/a |'
  groups = {tuple(g['labels'].values()): g for g in summary['groups']}
  assert groups[('d1', 'ns')]['ci95']['modes.final'] is None
  assert groups[('d1', 'hinge')]['vs_baseline']['metrics']['modes.final'] is None
  cells = {c['name']: c for c in summary['cells']}
  assert cells['data=d1__loss=ns__seed=1']['fingerprint'] is None   # never ran
  assert summary['baseline']['num_tests'] == 4                     # d2 only
