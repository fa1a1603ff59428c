"""``jaxstyle reproduce PATH``: rerun recorded runs and say how their numbers compare.

PATH is one of

* a **run directory** (``run_info.json``): its recorded command is run again; every number
  of its last ``metrics.jsonl`` and ``evals.jsonl`` rows and of ``eval.json`` is compared;
* a **sweep directory** (``sweep.json``): each finished cell's command from sweep.json is
  run again and the sweep's metrics (final and best) are compared;
* a **results folder**: every JSON file in it that lists ``cells`` with a ``command`` and
  names its ``metrics`` (the ``summary.json`` of ``jaxstyle sweep report --out``, or a
  ``reproduce.json`` manifest beside hand-made tables), compared the same way.

Each rerun goes to ``OUT/runs/NAME`` (default ``OUT`` = ``runs/reproduce/<PATH's name>``;
a finished rerun there is reused, an interrupted one resumes). Per metric the verdict is

* ``equal``: bit for bit the recorded number;
* ``within``: inside the 95 % prediction interval of the recorded seeds of the same grid
  point (where at least two were recorded): what another seed would plausibly give;
* ``outside``: outside that interval -- not explained by seed-to-seed spread;
* ``differs``: not equal, and there are no recorded seeds to judge the spread by;

next to the fields in which the rerun's fingerprint differs from the recorded one
(``run_info.fingerprint``): the CPU, the XLA thread count and flags, versions, devices,
the determinism setting. The results are printed and written to ``OUT/reproduce.md`` and
``OUT/reproduce.json``. Exit status 0 when every metric is ``equal`` or ``within``, 1
otherwise (or when a rerun fails).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from jaxstyle.errors import ConfigError
from jaxstyle.runtime import run_info
from jaxstyle.runtime.rundir import write_json
from jaxstyle.sweeps import report, stats

# Logged fields that measure time, not the computation: never compared.
TIMING = re.compile(r'(sec|seconds|time|_s$|per_sec|wall)', re.IGNORECASE)
VERDICTS = ('equal', 'within', 'outside', 'differs', 'missing')


@dataclasses.dataclass
class Recorded:
  """One recorded run: its name, the argv that reruns it (``--workdir`` to be replaced),
  its numbers, the recorded values of the same grid point per metric (all seeds), its
  fingerprint, and how to read the same numbers from a rerun's directory."""
  name: str
  command: list[str]
  numbers: dict[str, float]
  spread: dict[str, list[float]]
  fingerprint: dict | None
  read: Callable[[Path], dict[str, float]]


def _argv(command) -> list[str]:
  """A recorded command (a shell string or an argv list) as an argv run by this Python."""
  argv = shlex.split(command) if isinstance(command, str) else list(command)
  if not argv:
    raise ConfigError('a recorded command is empty')
  head = Path(argv[0]).name
  if head.startswith('python'):
    return [sys.executable, *argv[1:]]
  if head == '__main__.py' or head == 'jaxstyle':   # `python -m jaxstyle` or the script
    return [sys.executable, '-m', 'jaxstyle', *argv[1:]]
  return argv


def with_workdir(argv: Sequence[str], workdir: Path) -> list[str]:
  """``argv`` with its ``--workdir`` value replaced by ``workdir`` (added if absent)."""
  out, skip = [], False
  for i, arg in enumerate(argv):
    if skip:
      skip = False
      continue
    if arg == '--workdir' and i + 1 < len(argv):
      skip = True
      continue
    if arg.startswith('--workdir='):
      continue
    out.append(arg)
  return out + [f'--workdir={workdir}']


def _numeric(row: dict, prefix: str) -> dict[str, float]:
  out = {}
  for key, value in row.items():
    if isinstance(value, dict):
      out.update(_numeric(value, f'{prefix}{key}.'))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) \
        and not TIMING.search(key):
      out[f'{prefix}{key}'] = float(value)
  return out


def run_numbers(run_dir: Path) -> dict[str, float]:
  """Every number a run directory ends with: the last rows of metrics.jsonl and
  evals.jsonl and eval.json (without timings), keyed 'file:field'."""
  out = {}
  for name in ('metrics.jsonl', 'evals.jsonl'):
    path = run_dir / name
    if path.exists():
      lines = [line for line in path.read_text().splitlines() if line.strip()]
      if lines:
        out.update(_numeric(json.loads(lines[-1]), f'{name}:'))
  if (run_dir / 'eval.json').exists():
    out.update(_numeric(json.loads((run_dir / 'eval.json').read_text()), 'eval.json:'))
  return out


def _from_run_dir(path: Path) -> list[Recorded]:
  info = json.loads((path / 'run_info.json').read_text())
  if info.get('status') != 'completed':
    raise ConfigError(f'{path} is a run that did not complete (status {info.get("status")!r}): '
                      f'finish it with its own command first')
  if not info.get('command'):
    raise ConfigError(f'{path}/run_info.json records no command to rerun')
  return [Recorded(path.name, _argv(info['command']), run_numbers(path), {},
                   info.get('fingerprint'), run_numbers)]


def _metric_reader(metrics: Sequence[dict]) -> Callable[[Path], dict[str, float]]:
  def read(run_dir: Path) -> dict[str, float]:
    out = {}
    for m in metrics:
      final, best = report.read_metric(run_dir, m)
      for which, value in (('final', final), ('best', best)):
        if value is not None:
          out[f'{m["name"]}.{which}'] = value
    return out
  return read


def _from_cells(cells: Sequence[dict], metrics: Sequence[dict], fingerprints: dict,
                where: str) -> list[Recorded]:
  """Recorded runs from sweep-report rows (name, labels, status, command, metrics
  {name: [final, best]}, fingerprint id)."""
  done = [c for c in cells if c.get('status') in ('completed', 'done') and c.get('command')]
  groups: dict[str, dict[str, list[float]]] = {}
  for c in done:
    key = json.dumps(c.get('labels', {}), sort_keys=True)
    for m in metrics:
      for index, which in enumerate(('final', 'best')):
        value = (c['metrics'].get(m['name']) or [None, None])[index]
        if value is not None and math.isfinite(value):
          groups.setdefault(key, {}).setdefault(f'{m["name"]}.{which}', []).append(value)
  out = []
  for c in done:
    numbers = {}
    for m in metrics:
      for index, which in enumerate(('final', 'best')):
        value = (c['metrics'].get(m['name']) or [None, None])[index]
        if value is not None:
          numbers[f'{m["name"]}.{which}'] = value
    fp = c.get('fingerprint_info') or fingerprints.get(c.get('fingerprint') or '', None)
    out.append(Recorded(c['name'], _argv(c['command']), numbers,
                        groups.get(json.dumps(c.get('labels', {}), sort_keys=True), {}),
                        fp, _metric_reader(metrics)))
  if not out:
    raise ConfigError(f'{where} records no finished run with a command to rerun')
  return out


def load(path: str | Path) -> tuple[str, list[Recorded]]:
  """(kind, recorded runs) of a run directory, sweep directory or results folder."""
  path = Path(path)
  if not path.is_dir():
    raise ConfigError(f'{path} is not a directory: give a run directory, a sweep directory '
                      f'or a results folder')
  if (path / 'run_info.json').exists():
    return 'run', _from_run_dir(path)
  if (path / 'sweep.json').exists():
    plan, rows = report.collect(path)
    return 'sweep', _from_cells(rows, plan['metrics'], {}, str(path))
  recorded = []
  for summary in sorted(path.glob('*.json')):
    try:
      doc = json.loads(summary.read_text())
    except (OSError, ValueError):
      continue
    if isinstance(doc, dict) and isinstance(doc.get('cells'), list) and \
        isinstance(doc.get('metrics'), list) and any('command' in c for c in doc['cells']):
      recorded += _from_cells(doc['cells'], doc['metrics'], doc.get('fingerprints') or {},
                              str(summary))
  if not recorded:
    raise ConfigError(f'{path} holds no run_info.json, sweep.json or results JSON with '
                      f'recorded commands (a `jaxstyle sweep report` summary.json or a '
                      f'reproduce.json): nothing to rerun')
  return 'results', recorded


def verdict(recorded: float | None, rerun: float | None, spread: Sequence[float]) -> dict:
  """How a rerun's number compares with the recorded one (module docstring)."""
  if rerun is None or recorded is None:
    return {'verdict': 'missing'}
  if rerun == recorded or (math.isnan(rerun) and math.isnan(recorded)):
    return {'verdict': 'equal'}
  values = [v for v in spread if math.isfinite(v)]
  interval = stats.prediction_interval(values) if len(values) >= 2 else None
  if interval is None:
    return {'verdict': 'differs'}
  lo, hi = interval
  return {'verdict': 'within' if lo <= rerun <= hi else 'outside', 'interval': [lo, hi],
          'seeds': len(values)}


def rerun(rec: Recorded, out: Path, overrides: Sequence[str]) -> tuple[Path, int, float]:
  """Runs ``rec`` into OUT/runs/NAME (reusing a finished rerun); (dir, exit status, s)."""
  run_dir = out / 'runs' / rec.name
  info_path = run_dir / 'run_info.json'
  if info_path.exists() and json.loads(info_path.read_text()).get('status') == 'completed' \
      and not overrides:
    return run_dir, 0, 0.0
  argv = with_workdir(rec.command, run_dir) + list(overrides)
  (out / 'logs').mkdir(parents=True, exist_ok=True)
  start = time.time()
  with open(out / 'logs' / f'{rec.name}.log', 'ab') as log:
    log.write(f'\n$ {shlex.join(argv)}\n'.encode())
    log.flush()
    rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
  return run_dir, rc, round(time.time() - start, 1)


def _fmt(x) -> str:
  return 'n/a' if x is None else f'{x:.6g}'


def compare(rec: Recorded, run_dir: Path) -> dict:
  """Per-metric verdicts and the fingerprint difference of one rerun."""
  new = rec.read(run_dir)
  info_path = run_dir / 'run_info.json'
  new_fp = json.loads(info_path.read_text()).get('fingerprint') if info_path.exists() else None
  metrics = {}
  for key in sorted(set(rec.numbers) | set(new)):
    metrics[key] = {'recorded': rec.numbers.get(key), 'rerun': new.get(key),
                    **verdict(rec.numbers.get(key), new.get(key), rec.spread.get(key, []))}
  unrecorded = rec.fingerprint is None or rec.fingerprint.get('id') == report.UNRECORDED
  fp_diff = [] if unrecorded else run_info.difference(rec.fingerprint, new_fp)
  return {'name': rec.name, 'metrics': metrics, 'fingerprint_difference': fp_diff,
          'fingerprint_recorded': not unrecorded,
          'same_fingerprint_id': not unrecorded and (new_fp or {}).get('id') ==
          (rec.fingerprint or {}).get('id'),
          'rerun_fingerprint': (new_fp or {}).get('id'),
          'recorded_fingerprint': (rec.fingerprint or {}).get('id')}


def markdown(path: Path, results: Sequence[dict], overrides: Sequence[str]) -> str:
  """reproduce.md: the verdict counts, then per rerun a table of its numbers and the
  fingerprint difference."""
  counts = {v: 0 for v in VERDICTS}
  for r in results:
    for m in r['metrics'].values():
      counts[m['verdict']] += 1
  lines = [f'# jaxstyle reproduce {path}', '',
           f'{len(results)} run(s) rerun' + (f' with {" ".join(overrides)}' if overrides else '')
           + '. Verdicts: ' + ', '.join(f'{k} {v}' for k, v in counts.items() if v) + '.',
           '"within": inside the 95 % prediction interval of the recorded seeds of the same '
           'grid point; "outside": not explained by seed-to-seed spread.', '']
  for r in results:
    lines += [f'## {r["name"]}', '']
    if r.get('error'):
      lines += [f'rerun failed: {r["error"]}', '']
      continue
    lines += ['| metric | recorded | rerun | verdict |', '|---|---|---|---|']
    for key, m in r['metrics'].items():
      extra = (f' (seeds: [{_fmt(m["interval"][0])}, {_fmt(m["interval"][1])}])'
               if 'interval' in m else '')
      lines.append(f'| {key} | {_fmt(m["recorded"])} | {_fmt(m["rerun"])} | '
                   f'{m["verdict"]}{extra} |')
    diff = r['fingerprint_difference']
    lines += ['', 'Fingerprint: ' + (
        'none recorded (the run was made before fingerprints were recorded).'
        if not r.get('fingerprint_recorded', True) else 'the same as recorded.' if not diff
        else ('the same id; it differs only in fields outside the id: ' if
              r.get('same_fingerprint_id') else 'differs from the recorded one in ')
        + '; '.join(diff)), '']
  return '\n'.join(lines) + '\n'


def cmd_reproduce(args, overrides=()) -> int:
  """``jaxstyle reproduce PATH [--cells REGEX] [--limit N] [--out DIR] [--dry-run]``."""
  path = Path(args.path)
  kind, recorded = load(path)
  if args.cells:
    try:
      pattern = re.compile(args.cells)
    except re.error as e:
      raise ConfigError(f'--cells {args.cells!r} is not a regular expression: {e}') from None
    recorded = [r for r in recorded if pattern.search(r.name)]
    if not recorded:
      raise ConfigError(f'--cells {args.cells!r} matches no recorded run in {path}')
  if args.limit is not None:
    if args.limit < 1:
      raise ConfigError(f'--limit must be >= 1, got {args.limit}')
    recorded = recorded[:args.limit]
  extra = [f'--config.{k}={v}' for k, v in overrides]
  out = Path(args.out) if args.out else Path('runs') / 'reproduce' / path.resolve().name
  if args.dry_run:
    for rec in recorded:
      print(shlex.join(with_workdir(rec.command, out / 'runs' / rec.name) + extra))
    return 0
  print(f'reproduce: {len(recorded)} run(s) of {kind} {path} into {out}', flush=True)
  results, bad = [], False
  for rec in recorded:
    run_dir, rc, seconds = rerun(rec, out, extra)
    if rc != 0:
      results.append({'name': rec.name, 'error': f'exit status {rc} (log: '
                      f'{out / "logs" / (rec.name + ".log")})', 'metrics': {},
                      'fingerprint_difference': []})
      print(f'  {rec.name}: rerun FAILED, exit status {rc}', flush=True)
      bad = True
      continue
    result = compare(rec, run_dir)
    result['seconds'] = seconds
    results.append(result)
    verdicts = [m['verdict'] for m in result['metrics'].values()]
    bad |= any(v not in ('equal', 'within') for v in verdicts)
    summary = ', '.join(f'{v} {verdicts.count(v)}' for v in VERDICTS if v in verdicts)
    fp = result['fingerprint_difference']
    if not result['fingerprint_recorded']:
      fp_text = 'not recorded'
    elif not fp:
      fp_text = 'same'
    else:
      kind = 'same id, differs outside it' if result['same_fingerprint_id'] else 'differs'
      fp_text = f'{kind} ({"; ".join(fp[:3])}{"; ..." if len(fp) > 3 else ""})'
    print(f'  {rec.name}: {summary}; fingerprint {fp_text}', flush=True)
    for key, m in result['metrics'].items():
      if m['verdict'] not in ('equal',):
        extra_text = (f' [{_fmt(m["interval"][0])}, {_fmt(m["interval"][1])}]'
                      if 'interval' in m else '')
        print(f'    {key}: recorded {_fmt(m["recorded"])}, rerun {_fmt(m["rerun"])} -> '
              f'{m["verdict"]}{extra_text}', flush=True)
  out.mkdir(parents=True, exist_ok=True)
  (out / 'reproduce.md').write_text(markdown(path, results, extra))
  write_json(out / 'reproduce.json', {'path': str(path), 'kind': kind, 'overrides': extra,
                                      'results': results})
  print(f'wrote {out / "reproduce.md"}, {out / "reproduce.json"}')
  return 1 if bad else 0
