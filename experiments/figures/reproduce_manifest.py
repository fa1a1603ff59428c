"""reproduce.json: the runs behind a results folder, in the form `jaxstyle reproduce` reads.

    python -m experiments.figures.reproduce_manifest --results results/gan

``jaxstyle reproduce results/X`` reruns every JSON file of the folder that lists ``cells``
(each with its ``command``, ``labels``, ``seed``, ``status`` and ``metrics`` {name: [final,
best]}) and names its ``metrics`` (the sweep's Metric definitions, to read the reruns).
``jaxstyle sweep report --out`` writes such a file (summary.json); the figure scripts of
results/gan write ``NAME.reproduce.json`` beside ``NAME.json`` with ``from_rows``.

Run as a command, this module writes results/gan/{mixtures,mnist}.reproduce.json for the
numbers committed
in results/gan/mixtures.json and mnist.json before the figure scripts recorded their cells'
commands: each cell's command is the one the figure script's sweep runs today at the
settings the JSON file records (steps, seeds, MNIST folder), and its numbers are the JSON
file's own. Those runs recorded no fingerprint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Sequence

from jaxstyle.runtime.rundir import write_json
from jaxstyle.sweeps import spec


def from_rows(plan: dict, rows: Sequence[dict], source: str) -> dict:
  """A reproduce.json document from a sweep's ``report.collect`` (plan, rows)."""
  return {'source': source, 'name': plan['name'], 'metrics': plan['metrics'],
          'axes': plan['axes'], 'seeds': plan['seeds'],
          'fingerprints': {r['fingerprint']: r['fingerprint_info'] for r in rows
                           if r.get('fingerprint')},
          'cells': [{k: r.get(k) for k in ('name', 'labels', 'seed', 'status', 'command',
                                          'metrics', 'fingerprint', 'commit')} for r in rows]}


def _cells(sweep: spec.Sweep, runs: str, numbers) -> list[dict]:
  """The sweep's cells with today's commands (run directories under ``runs``) and the
  numbers ``numbers(cell)`` ({metric: value}) recorded for them."""
  out = []
  for cell in spec.expand(sweep):
    values = numbers(cell)
    out.append({'name': cell.name, 'labels': cell.labels, 'seed': cell.seed,
                'status': 'completed', 'fingerprint': 'unrecorded',
                'command': spec.command(sweep, cell, Path(runs) / 'runs' / cell.name),
                'metrics': {k: [v, v] for k, v in values.items()}})
  return out


def _document(sweep: spec.Sweep, cells: list[dict], source: str) -> dict:
  return {'source': source, 'name': sweep.name,
          'metrics': [dataclasses.asdict(m) for m in sweep.metrics],
          'axes': [{'name': a.name, 'labels': list(a.values)} for a in sweep.axes],
          'seeds': list(sweep.seeds), 'fingerprints': {}, 'cells': cells}


def committed_gan(results: Path) -> list[dict]:
  """The documents for results/gan's mixtures.json and mnist.json."""
  docs = []
  mixtures = json.loads((results / 'mixtures.json').read_text())
  sweep = spec.load_sweep(f'gan_mixtures:steps={mixtures["steps"]},'
                          f'seeds={len(mixtures["seeds"])}')

  def mixture_numbers(cell):
    row = next(c for c in mixtures['results'][cell.labels['data']]['cells']
               if c['seed'] == cell.seed)
    return {'modes': row['modes'], 'hq_percent': row['hq'], 'reverse_kl': row['reverse_kl']}
  docs.append(_document(sweep, _cells(sweep, 'runs/sweeps/gan_mixtures', mixture_numbers),
                        'mixtures.json'))

  mnist = json.loads((results / 'mnist.json').read_text())
  rows = mnist['rows']
  steps = {'goodfellow': rows['goodfellow_mnist']['steps'], 'dcgan28': rows['dcgan28_mnist']['steps']}
  sweep = spec.load_sweep(f'gan_mnist:goodfellow_steps={steps["goodfellow"]},'
                          f'dcgan_steps={steps["dcgan28"]},mnist=../shared/data/mnist')

  def mnist_numbers(cell):
    row = rows[f'{cell.labels["model"]}_mnist']
    return {'parzen_ll': row['parzen']['log_likelihood'],
            'classifier_fd': row['classifier']['frechet_distance']}
  docs.append(_document(sweep, _cells(sweep, 'runs/sweeps/gan_mnist', mnist_numbers),
                        'mnist.json'))
  return docs


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--results', default='results/gan')
  args = p.parse_args()
  results = Path(args.results)
  for doc in committed_gan(results):
    path = results / f'{Path(doc["source"]).stem}.reproduce.json'
    write_json(path, {**doc, 'command': 'python -m experiments.figures.reproduce_manifest '
                                        f'--results {args.results}'})
    print(f'wrote {path} ({len(doc["cells"])} cells)')


if __name__ == '__main__':
  main()
