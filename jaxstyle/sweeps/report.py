"""Aggregates a sweep directory: per-cell numbers, mean +- s.e. over seeds, contact sheets.

Everything is read from the directory alone (sweep.json and each run directory), so a
table or sheet regenerates from the runs without the sweep file or the code that ran them.
"""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jaxstyle.errors import ConfigError
from jaxstyle.io import figures, images


def _lookup(row: dict, key: str):
  value = row
  for part in key.split('.'):
    if not isinstance(value, dict) or part not in value:
      return None
    value = value[part]
  return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_metric(run_dir: Path, metric: dict) -> tuple[float | None, float | None]:
  """(final, best) of one metric in one run directory; None where it is missing."""
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
  return (None, None) if v is None else (float(v) * metric.get('scale', 1.0),) * 2


def mean_se(values: Sequence[float]) -> tuple[float, float | None]:
  """Mean and standard error of the mean (sample std / sqrt(n)); s.e. is None for n = 1."""
  x = np.asarray(values, np.float64)
  if len(x) == 1:
    return float(x[0]), None
  return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _status(root: Path, name: str) -> str:
  from jaxstyle.sweeps.spec import SweepDir
  return SweepDir(root).state(name)['status']


def collect(root: str | Path) -> tuple[dict, list[dict]]:
  """(sweep.json, one row per cell: name, labels, seed, status, wall time, metrics)."""
  root = Path(root)
  if not (root / 'sweep.json').exists():
    raise ConfigError(f'{root} has no sweep.json: give the --dir of a sweep that was run')
  plan = json.loads((root / 'sweep.json').read_text())
  rows = []
  for cell in plan['cells']:
    name = cell['name']
    run_dir = root / 'runs' / name
    info_path = run_dir / 'run_info.json'
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    row = {'name': name, 'labels': cell['labels'], 'seed': cell['seed'],
           'status': _status(root, name), 'wall_time_s': info.get('wall_time_s'),
           'hardware': _hardware(info), 'commit': (info.get('git') or {}).get('commit'),
           'metrics': {}}
    for m in plan['metrics']:
      row['metrics'][m['name']] = read_metric(run_dir, m)
    rows.append(row)
  return plan, rows


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


def aggregate(plan: dict, rows: Sequence[dict]) -> list[dict]:
  """One group per grid point (labels), over its finished seeds, in sweep order."""
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
             'seeds': [r['seed'] for r in done], 'metrics': {}}
    for m in plan['metrics']:
      for which, index in (('final', 0), ('best', 1)):
        values = [r['metrics'][m['name']][index] for r in done
                  if r['metrics'][m['name']][index] is not None]
        entry['metrics'][f'{m["name"]}.{which}'] = mean_se(values) + (len(values),) \
            if values else None
    walls = [r['wall_time_s'] for r in done if r['wall_time_s'] is not None]
    entry['wall_time_s'] = float(np.mean(walls)) if walls else None
    out.append(entry)
  return out


def format_mean_se(stat, digits: int = 3) -> str:
  """A table entry for ``(mean, se, n)``: 'mean ± se' (``digits`` significant digits
  for the mean), just the mean when se is None (one seed), 'n/a' for None."""
  if stat is None:
    return 'n/a'
  mean, se, _ = stat
  if se is None:
    return f'{mean:.{digits}g}'
  return f'{mean:.{digits}g} ± {se:.2g}'


def markdown(plan: dict, groups: Sequence[dict], rows: Sequence[dict],
             columns: Sequence[str] | None = None) -> str:
  """The table: one line per grid point, final and best of each metric as mean ± s.e."""
  axes = axis_names(plan)
  metric_cols = columns or [f'{m["name"]}.{w}' for m in plan['metrics'] for w in ('final', 'best')]
  header = axes + ['seeds'] + metric_cols + ['wall time / run']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for g in groups:
    wall = f'{g["wall_time_s"]:.0f} s' if g['wall_time_s'] is not None else 'n/a'
    seeds = f'{g["num_done"]}/{g["num_cells"]}'
    cells = [g['labels'][a] for a in axes] + [seeds] + \
        [format_mean_se(g['metrics'].get(c)) for c in metric_cols] + [wall]
    lines.append('| ' + ' | '.join(cells) + ' |')
  unfinished = [f'{r["name"]} ({r["status"]})' for r in rows if r['status'] != 'completed']
  if unfinished:
    lines += ['', 'Not in the table (not finished): ' + ', '.join(unfinished) + '.']
  return '\n'.join(lines) + '\n'


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
