"""Aggregates a sweep directory: per-cell numbers, mean ± s.e. and 95 % intervals over
seeds, Welch's t-test against a baseline group, fingerprints, contact sheets.

Everything is read from the directory alone (sweep.json and each run directory), so a
table or sheet regenerates from the runs without the sweep file or the code that ran them.
"""

from __future__ import annotations

import glob
import json
import math
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jaxstyle.errors import ConfigError
from jaxstyle.io import figures, images
from jaxstyle.sweeps import stats

UNRECORDED = 'unrecorded'  # the fingerprint id of runs whose run_info.json has none
CI_LEVEL = 0.95            # of every interval in the report
ALPHA = 0.05               # significance level of the baseline comparisons
SIGNIFICANT, HOLM_SIGNIFICANT, MIXED = '*', '†', '‡'


def _lookup(row: dict, key: str):
  value = row
  for part in key.split('.'):
    if not isinstance(value, dict) or part not in value:
      return None
    value = value[part]
  return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_metric(run_dir: Path, metric: dict) -> tuple[float | None, float | None]:
  """(final, best) of one metric in one run directory; None where it is missing or not
  finite (a JSONL file's non-finite rows are skipped, as a diverged step logs NaN)."""
  path = Path(run_dir) / metric['source']
  if not path.exists():
    return None, None
  if path.suffix == '.jsonl':
    values = []
    for line in path.read_text().splitlines():
      if line.strip():
        v = _lookup(json.loads(line), metric['key'])
        if v is not None and math.isfinite(v):
          values.append(float(v))
    if not values:
      return None, None
    scale = metric.get('scale', 1.0)
    best = min(values) if metric['mode'] == 'min' else max(values)
    return values[-1] * scale, best * scale
  v = _lookup(json.loads(path.read_text()), metric['key'])
  if v is None or not math.isfinite(v):
    return None, None
  return (float(v) * metric.get('scale', 1.0),) * 2


def mean_se(values: Sequence[float]) -> tuple[float, float | None]:
  """Mean and standard error of the mean (sample std / sqrt(n)); s.e. is None for n = 1."""
  mean, se, _, _, _ = stats.mean_ci(values)
  return mean, se


def _status(root: Path, name: str) -> str:
  from jaxstyle.sweeps.spec import SweepDir
  return SweepDir(root).state(name)['status']


def fingerprint_of(info: dict | None) -> tuple[str | None, dict | None]:
  """(id, record) of a run's ``run_info.json`` contents: ``UNRECORDED`` for runs made
  before fingerprints were recorded, (None, None) for a cell that has no run_info yet."""
  if info is None:
    return None, None
  fp = info.get('fingerprint')
  if isinstance(fp, dict) and fp.get('id'):
    return str(fp['id']), fp
  if isinstance(fp, str) and fp:
    return fp, {'id': fp}
  return UNRECORDED, {'id': UNRECORDED}


def collect(root: str | Path) -> tuple[dict, list[dict]]:
  """(sweep.json, one row per cell: name, labels, seed, status, wall time, metrics, the
  fingerprint id and record, and the config, overrides and command that rerun it)."""
  root = Path(root)
  if not (root / 'sweep.json').exists():
    raise ConfigError(f'{root} has no sweep.json: give the --dir of a sweep that was run')
  plan = json.loads((root / 'sweep.json').read_text())
  rows = []
  for cell in plan['cells']:
    name = cell['name']
    run_dir = root / 'runs' / name
    info_path = run_dir / 'run_info.json'
    info = json.loads(info_path.read_text()) if info_path.exists() else None
    fingerprint, fingerprint_info = fingerprint_of(info)
    info = info or {}
    row = {'name': name, 'labels': cell['labels'], 'seed': cell['seed'],
           'status': _status(root, name), 'wall_time_s': info.get('wall_time_s'),
           'hardware': _hardware(info), 'commit': (info.get('git') or {}).get('commit'),
           'fingerprint': fingerprint, 'fingerprint_info': fingerprint_info,
           'config': cell.get('config', plan['config']), 'overrides': cell.get('overrides'),
           'command': cell.get('command'), 'metrics': {}}
    for m in plan['metrics']:
      row['metrics'][m['name']] = read_metric(run_dir, m)
    rows.append(row)
  return plan, rows


def subset(plan: dict, rows: Sequence[dict], only: str) -> tuple[dict, list[dict]]:
  """The plan and rows of the cells whose name matches regex ``only`` (a report of part of
  a sweep), each axis keeping only the labels those cells have. Raises ConfigError."""
  try:
    pattern = re.compile(only)
  except re.error as e:
    raise ConfigError(f'--only {only!r} is not a regular expression: {e}') from None
  kept = [r for r in rows if pattern.search(r['name'])]
  if not kept:
    raise ConfigError(f'--only {only!r} matches no cell of sweep {plan["name"]}')
  names = {r['name'] for r in kept}
  axes = [{**a, 'labels': [l for l in a['labels']
                           if any(r['labels'].get(a['name']) == l for r in kept)]}
          for a in plan['axes']]
  return {**plan, 'axes': axes, 'cells': [c for c in plan['cells'] if c['name'] in names]}, kept


def _hardware(info: dict) -> str | None:
  if 'device_kind' not in info:
    return None
  devices = len(info.get('devices', [])) or 1
  cores = f'{info.get("cpu_count")} CPU cores'
  if info.get('cpu_affinity') and info['cpu_affinity'] != info.get('cpu_count'):
    cores = f'{info["cpu_affinity"]} of {info.get("cpu_count")} CPU cores'
  return f'{devices} x {info["device_kind"]}, {cores}'


def axis_names(plan: dict) -> list[str]:
  """The sweep's axis names in order, from its sweep.json ``plan``."""
  return [a['name'] for a in plan['axes']]


def metric_columns(plan: dict) -> list[str]:
  """'NAME.final' and 'NAME.best' for each metric of the sweep, in order."""
  return [f'{m["name"]}.{w}' for m in plan['metrics'] for w in ('final', 'best')]


def _values(done: Sequence[dict], column: str) -> list[float]:
  """The column's number in each finished row that has it (seed order)."""
  name, which = column.rsplit('.', 1)
  index = 0 if which == 'final' else 1
  return [r['metrics'][name][index] for r in done if r['metrics'][name][index] is not None]


def majority_fingerprint(rows: Sequence[dict]) -> str | None:
  """The fingerprint id most completed cells were made under (first seen wins a tie)."""
  counts = fingerprint_counts(rows)
  return max(counts, key=counts.get) if counts else None


def fingerprint_counts(rows: Sequence[dict]) -> dict[str, int]:
  """{fingerprint id: completed cells made under it}, in order of first appearance."""
  counts: dict[str, int] = {}
  for r in rows:
    if r['status'] == 'completed' and r.get('fingerprint'):
      counts[r['fingerprint']] = counts.get(r['fingerprint'], 0) + 1
  return counts


def aggregate(plan: dict, rows: Sequence[dict]) -> list[dict]:
  """One group per grid point (labels), over its finished seeds, in sweep order.

  A group holds ``metrics`` {column: [mean, s.e., n] or None}, ``ci95`` {column: [lo, hi]
  or None} (the 95 % t interval of the mean; None for n = 1), ``fingerprints`` {id: seeds}
  and ``mixed_fingerprints`` (its seeds span several fingerprints, or not the majority's).
  """
  majority = majority_fingerprint(rows)
  groups: dict[tuple, dict] = {}
  for row in rows:
    key = tuple(row['labels'].get(a) for a in axis_names(plan))
    g = groups.setdefault(key, {'labels': dict(row['labels']), 'cells': [], 'seeds': []})
    g['cells'].append(row['name'])
    if row['status'] == 'completed':
      g['seeds'].append(row)
  out = []
  for g in groups.values():
    done = g['seeds']
    entry = {'labels': g['labels'], 'num_cells': len(g['cells']), 'num_done': len(done),
             'seeds': [r['seed'] for r in done], 'metrics': {}, 'ci95': {}}
    for column in metric_columns(plan):
      values = _values(done, column)
      mean, se, lo, hi, n = stats.mean_ci(values, CI_LEVEL) if values else (None,) * 5
      entry['metrics'][column] = [mean, se, n] if values else None
      entry['ci95'][column] = [lo, hi] if lo is not None else None
    walls = [r['wall_time_s'] for r in done if r['wall_time_s'] is not None]
    entry['wall_time_s'] = float(np.mean(walls)) if walls else None
    entry['fingerprints'] = fingerprint_counts(done)
    entry['mixed_fingerprints'] = bool(entry['fingerprints']) and \
        set(entry['fingerprints']) != {majority}
    out.append(entry)
  return out


def parse_baseline(text: str) -> dict[str, str]:
  """'loss=non-saturating,sn=off' -> {'loss': 'non-saturating', 'sn': 'off'}."""
  out = {}
  for item in [t.strip() for t in text.split(',') if t.strip()]:
    axis, eq, label = item.partition('=')
    if not eq or not axis.strip() or not label.strip() or axis.strip() in out:
      raise ConfigError(f'--baseline {text!r}: give AXIS=LABEL pairs, each axis once, '
                        f'separated by commas (e.g. loss=non-saturating,sn=off)')
    out[axis.strip()] = label.strip()
  return out


def resolve_baseline(plan: dict, rows: Sequence[dict], baseline) -> dict[str, str] | None:
  """The baseline as {axis: label}, checked against the sweep: ``baseline`` is a
  '--baseline' string, a dict (sweep.json's), or None / '' / {} for no comparison."""
  if isinstance(baseline, str):
    baseline = parse_baseline(baseline)
  if not baseline:
    return None
  shown = ','.join(f'{a}={l}' for a, l in baseline.items())
  labels = {a['name']: [str(l) for l in a['labels']] for a in plan['axes']}
  for axis, label in baseline.items():
    if axis not in labels:
      raise ConfigError(f'baseline {shown}: sweep {plan["name"]} has no axis {axis!r}; its '
                        f'axes are {", ".join(labels) or "none (seeds only)"}')
    if label not in labels[axis]:
      raise ConfigError(f'baseline {shown}: axis {axis} has no label {label!r}; its labels '
                        f'are {", ".join(labels[axis])}')
  if not any(all(r['labels'].get(a) == l for a, l in baseline.items()) for r in rows):
    raise ConfigError(f'baseline {shown}: no cell of sweep {plan["name"]} has these labels; '
                      f'the axes and labels are ' + '; '.join(
                          f'{a}: {", ".join(ls)}' for a, ls in labels.items()))
  return dict(baseline)


def compare(plan: dict, groups: Sequence[dict], rows: Sequence[dict],
            baseline: dict[str, str]) -> dict:
  """Welch's t-test of every group against its baseline group, for every metric column.

  The baseline group of a group has ``baseline``'s labels on the axes it names and the
  group's own labels on the others. Adds to each group ``vs_baseline`` = {'baseline':
  labels, 'is_baseline': bool, 'metrics': {column: None (fewer than 2 seeds on a side)
  or stats.welch's dict + 'significant' (p < 0.05), 'p_holm', 'significant_holm'}};
  Holm–Bonferroni runs over every comparison of a group that is not its own baseline.
  Returns {'labels': baseline, 'alpha', 'level', 'num_tests'} for summary.json.
  """
  axes = axis_names(plan)
  done: dict[tuple, list[dict]] = {}
  for r in rows:
    if r['status'] == 'completed':
      done.setdefault(tuple(r['labels'].get(a) for a in axes), []).append(r)
  family = []
  for g in groups:
    own = tuple(g['labels'].get(a) for a in axes)
    target = tuple(baseline.get(a, g['labels'].get(a)) for a in axes)
    entry = {'baseline': dict(zip(axes, target)), 'is_baseline': own == target, 'metrics': {}}
    for column in metric_columns(plan):
      a, b = _values(done.get(own, []), column), _values(done.get(target, []), column)
      result = stats.welch(a, b, CI_LEVEL) if len(a) > 1 and len(b) > 1 else None
      if result is not None:
        result['t'] = result['t'] if math.isfinite(result['t']) else None  # JSON has no inf
        result.update(significant=result['p'] < ALPHA, p_holm=None, significant_holm=False)
        if not entry['is_baseline']:
          family.append(result)
      entry['metrics'][column] = result
    g['vs_baseline'] = entry
  for result, adjusted in zip(family, stats.holm([r['p'] for r in family])):
    result.update(p_holm=adjusted, significant_holm=adjusted < ALPHA)
  return {'labels': dict(baseline), 'alpha': ALPHA, 'level': CI_LEVEL, 'num_tests': len(family)}


def _g(x: float) -> str:
  return f'{x:.3g}'


def format_mean_se(stat, digits: int = 3, ci=None) -> str:
  """A table entry for ``(mean, se, n)``: 'mean ± se' (``digits`` significant digits
  for the mean), just the mean when se is None (one seed), 'n/a' for None; with ``ci``
  = (lo, hi) the interval follows in brackets: '2.33 ± 0.88 [-1.46, 6.13]'."""
  if stat is None:
    return 'n/a'
  mean, se, _ = stat[:3]
  if se is None:
    return f'{mean:.{digits}g}'
  text = f'{mean:.{digits}g} ± {se:.2g}'
  return text if ci is None else f'{text} [{_g(ci[0])}, {_g(ci[1])}]'


def format_comparison(result: dict | None) -> str:
  """A comparison table entry: '+4 [1.7, 6.3] p=0.021 *' (difference, its 95 % CI,
  Welch's p; * p < 0.05, † also after Holm–Bonferroni), 'n/a' for None."""
  if result is None:
    return 'n/a'
  p = result['p']
  text = (f'{result["diff"]:+.3g} [{_g(result["lo"])}, {_g(result["hi"])}] '
          + ('p<0.001' if p < 0.001 else f'p={p:.2g}'))
  marks = (SIGNIFICANT if result['significant'] else '') + \
      (HOLM_SIGNIFICANT if result['significant_holm'] else '')
  return f'{text} {marks}' if marks else text


def markdown(plan: dict, groups: Sequence[dict], rows: Sequence[dict],
             columns: Sequence[str] | None = None) -> str:
  """The table: one line per grid point, final and best of each metric as mean ± s.e.
  [95 % CI]; groups with mixed fingerprints are marked ``MIXED``, explained below."""
  axes = axis_names(plan)
  metric_cols = columns or metric_columns(plan)
  header = axes + ['seeds'] + metric_cols + ['wall time / run']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for g in groups:
    wall = f'{g["wall_time_s"]:.0f} s' if g['wall_time_s'] is not None else 'n/a'
    seeds = f'{g["num_done"]}/{g["num_cells"]}' + (f' {MIXED}' if g.get('mixed_fingerprints')
                                                  else '')
    entries = []
    for c in metric_cols:
      stat = g['metrics'].get(c)
      text = format_mean_se(stat, ci=(g.get('ci95') or {}).get(c))
      if stat is not None and stat[2] < g['num_done']:
        text += f' (n={stat[2]})'  # some finished seeds lack this number
      entries.append(text)
    lines.append('| ' + ' | '.join([g['labels'][a] for a in axes] + [seeds] + entries +
                                   [wall]) + ' |')
  if any(g.get('mixed_fingerprints') for g in groups):
    majority = majority_fingerprint(rows)
    lines += ['', f'{MIXED} seeds made under more than one fingerprint, or under another than '
              f'the majority\'s (`{majority}`): differences from other rows may be the '
              f'hardware or software, not the setting.']
  unfinished = [f'{r["name"]} ({r["status"]})' for r in rows if r['status'] != 'completed']
  if unfinished:
    lines += ['', 'Not in the table (not finished): ' + ', '.join(unfinished) + '.']
  return '\n'.join(lines) + '\n'


def comparison_markdown(plan: dict, groups: Sequence[dict], comparison: dict,
                        columns: Sequence[str] | None = None) -> str:
  """The baseline table (after ``compare``): each group's difference from its baseline
  group per metric column, with the multiple-comparisons note."""
  axes = axis_names(plan)
  metric_cols = columns or metric_columns(plan)
  base = comparison['labels']
  others = [a for a in axes if a not in base]
  m = comparison['num_tests']
  lines = ['## Difference from the baseline', '',
           f'Baseline: {", ".join(f"{a}={l}" for a, l in base.items())}'
           + (f' (each {", ".join(others)} against its own)' if others else '') + '. '
           f'Entries: mean difference (row − baseline) [{CI_LEVEL:.0%} CI of the difference] '
           f'and the two-sided p of Welch\'s t-test over seeds; {SIGNIFICANT} p < {ALPHA:g}, '
           f'{HOLM_SIGNIFICANT} also significant after Holm–Bonferroni over the {m} '
           f'comparisons; n/a: fewer than two seeds on a side.', '',
           '| ' + ' | '.join(axes + metric_cols) + ' |', '|' + '---|' * (len(axes) +
                                                                   len(metric_cols))]
  for g in groups:
    vs = g['vs_baseline']
    entries = ['baseline' if vs['is_baseline'] else format_comparison(vs['metrics'][c])
               for c in metric_cols]
    lines.append('| ' + ' | '.join([g['labels'][a] for a in axes] + entries) + ' |')
  lines += ['', f'With {m} comparisons at p < {ALPHA:g}, about {m * ALPHA:.2g} would be marked '
            f'{SIGNIFICANT} by chance even if no setting made a difference: read {SIGNIFICANT} '
            f'as a hint, {HOLM_SIGNIFICANT} (Holm–Bonferroni: at most a {ALPHA:.0%} chance of '
            f'any false {HOLM_SIGNIFICANT}) as a finding, and look at the intervals.']
  return '\n'.join(lines) + '\n'


def describe_fingerprint(record: dict | None) -> str:
  """A fingerprint's key fields in words: CPU model, intra-op threads, devices and the
  determinism setting ('?' for a field the record lacks)."""
  if not record or record.get('id') == UNRECORDED:
    return 'not recorded (runs made before run_info.json carried a fingerprint)'
  cpu = _field(record.get('cpu'), 'model', 'name', 'brand')
  threads = record.get('intra_op_threads',
                       _field(record.get('threads'), 'intra_op', 'intra_op_threads', 'count'))
  devices, kind, count = record.get('devices'), record.get('device_kind'), \
      record.get('device_count')
  if isinstance(devices, dict):
    kind, count = kind or _field(devices, 'kind', 'device_kind'), count or devices.get('count')
  elif isinstance(devices, list) and devices:
    kind, count = kind or _field(devices[0], 'kind', 'device_kind'), count or len(devices)
  elif isinstance(devices, str):
    kind = kind or devices
  det = record.get('determinism')
  determinism = _field(det, 'deterministic', 'mode', 'setting', 'enabled')
  if isinstance(determinism, bool):
    determinism = 'on' if determinism else 'off'
  if isinstance(det, dict) and det.get('in_effect') is False:
    determinism = f'{determinism} (not in effect)'
  unknown = lambda v: '?' if v in (None, '') else v  # noqa: E731
  return (f'CPU {unknown(cpu)}; intra-op threads {unknown(threads)}; devices '
          f'{f"{count} x " if count else ""}{unknown(kind)}; determinism {unknown(determinism)}')


def _field(value, *keys):
  """``value`` itself, or for a dict its first non-empty entry among ``keys``."""
  if isinstance(value, dict):
    return next((value[k] for k in keys if value.get(k) not in (None, '')), None)
  return value


def fingerprint_lines(rows: Sequence[dict]) -> list[str]:
  """table.md's fingerprint list: each id with its completed cells and key fields, and a
  warning line when the completed cells span more than one."""
  counts = fingerprint_counts(rows)
  if not counts:
    return ['Fingerprints: none yet (no completed cells).']
  records = {r['fingerprint']: r['fingerprint_info'] for r in rows if r.get('fingerprint')}
  lines = ['Fingerprints of the completed cells (everything besides config and seed that '
           'sets a run\'s numbers):', '']
  lines += [f'- `{fid}`: {n} cell{"s" * (n != 1)}; {describe_fingerprint(records[fid])}'
            for fid, n in counts.items()]
  if len(counts) > 1:
    lines += ['', f'**Warning: the completed cells were made under {len(counts)} different '
              f'fingerprints; their numbers may differ by more than seed noise. Rows '
              f'marked {MIXED} have seeds outside the majority\'s fingerprint.**']
  return lines


def document(plan: dict, groups: Sequence[dict], rows: Sequence[dict],
             comparison: dict | None = None) -> str:
  """The whole table.md: a header (config, hardware, commits, run time, what the numbers
  are, the fingerprints), the main table and, with a ``comparison``, the baseline table."""
  hardware = sorted({r['hardware'] for r in rows if r['hardware']})
  commits = sorted({r['commit'][:10] for r in rows if r['commit']})
  total = sum(r['wall_time_s'] or 0 for r in rows if r['status'] == 'completed')
  lines = [f'# Sweep {plan["name"]}', '']
  if plan.get('description'):
    lines += [plan['description'], '']
  lines += [f'Config `{plan["config"]}`; {len(rows)} cells; seeds {plan["seeds"]}.',
            f'Hardware: {"; ".join(hardware) or "n/a"}. Commits: {", ".join(commits) or "n/a"}.',
            f'Total run time {total / 60:.1f} min (sum over cells).',
            f'Numbers: mean ± standard error over seeds (sample std / sqrt(n)) '
            f'[{CI_LEVEL:.0%} confidence interval of the mean, Student t with n − 1 degrees '
            f'of freedom; none for one seed]; "final" is the last logged value, "best" the '
            f'min or max over the run.', '']
  lines += fingerprint_lines(rows) + ['', '']
  text = '\n'.join(lines) + markdown(plan, groups, rows)
  if comparison is not None:
    text += '\n' + comparison_markdown(plan, groups, comparison)
  return text


def _font(size: int):
  try:
    return ImageFont.load_default(size=size)
  except TypeError:  # Pillow < 10.1: a fixed bitmap font
    return ImageFont.load_default()


def _fit(path: Path, tile: int) -> Image.Image:
  with Image.open(path) as img:
    img = img.convert('RGB')
    scale = tile / max(img.width, img.height)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                     Image.LANCZOS)
    canvas = Image.new('RGB', (tile, tile), 'white')
    canvas.paste(img, ((tile - img.width) // 2, (tile - img.height) // 2))
    return canvas


def image_of(run_dir: Path, pattern: str) -> Path | None:
  """The run's file for the sheet: ``pattern`` may be a glob (the last match in order)."""
  matches = sorted(glob.glob(str(Path(run_dir) / pattern)))
  return Path(matches[-1]) if matches else None


def contact_sheet(root: str | Path, plan: dict, rows: Sequence[dict], tile: int = 160,
                  seed: int | None = None) -> Image.Image:
  """The grid as images: rows = first axis, columns = the other axes (one seed).

  With one axis the labels run along a single row; missing runs are left grey.
  """
  root = Path(root)
  if not plan.get('image'):
    raise ConfigError(f'sweep {plan["name"]} names no image per run (Sweep.image); '
                      f'it has a table only')
  axes = axis_names(plan)
  seed = plan['seeds'][0] if seed is None else seed
  chosen = [r for r in rows if r['seed'] == seed]
  if len(axes) >= 2:
    row_axis, col_axes = axes[0], axes[1:]
  else:
    row_axis, col_axes = None, axes
  row_labels = plan['axes'][0]['labels'] if row_axis else ['']
  col_keys = []
  for r in chosen:
    key = tuple(r['labels'][a] for a in col_axes)
    if key not in col_keys:
      col_keys.append(key)
  col_lines = [[f'{a}={l}' for a, l in zip(col_axes, key)] for key in col_keys]
  row_text = [f'{row_axis}={l}' if row_axis else '' for l in row_labels]
  measure = ImageDraw.Draw(Image.new('RGB', (1, 1)))

  def text_size(s):
    left, top, right, bottom = measure.textbbox((0, 0), s, font=font)
    return right - left, bottom - top

  size = max(11, tile // 11)
  font = _font(size)
  # The largest font (down to 7 px) at which every column label fits its tile.
  while size > 7 and max([text_size(t)[0] for lines in col_lines for t in lines] + [0]) > tile:
    size -= 1
    font = _font(size)
  pad = 6
  left = max([text_size(t)[0] for t in row_text] + [0]) + 2 * pad
  line_h = text_size('Ag')[1] + pad // 2
  top = len(col_axes) * line_h + 2 * pad
  width = left + len(col_keys) * (tile + pad) + pad
  height = top + len(row_labels) * (tile + pad) + line_h + 2 * pad
  by_labels = {tuple(r['labels'][a] for a in axes): r for r in chosen}
  grey = np.full((tile, tile, 3), 200 / 255, np.float32)
  tiles = []
  for rl in row_labels:
    tiles.append([])
    for key in col_keys:
      r = by_labels.get(((rl,) if row_axis else ()) + key)
      path = image_of(root / 'runs' / r['name'], plan['image']) if r and \
          r['status'] == 'completed' else None
      tiles[-1].append(grey if path is None else np.asarray(_fit(path, tile)) / 255.0)
  sheet = Image.new('RGB', (width, height), 'white')
  sheet.paste(Image.fromarray(images.to_uint8(figures.grid(tiles, pad))), (left - pad, top - pad))
  draw = ImageDraw.Draw(sheet)
  for j, lines in enumerate(col_lines):
    x = left + j * (tile + pad)
    for k, t in enumerate(lines):
      w, _ = text_size(t)
      draw.text((x + max(0, (tile - w) // 2), pad + k * line_h), t, fill='black', font=font)
  for i in range(len(row_labels)):
    y = top + i * (tile + pad)
    draw.text((pad, y + tile // 2 - line_h // 2), row_text[i], fill='black', font=font)
  draw.text((pad, height - line_h - pad), f'{plan["name"]} (seed {seed})', fill=(90, 90, 90),
            font=font)
  return sheet
