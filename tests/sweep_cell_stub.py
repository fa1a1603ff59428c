"""A stand-in for `jaxstyle run` in sweep-runner tests: same arguments, no JAX, fast.

It appends "<cell> <pid> <event>" to the ledger file named by the config, sleeps, and
writes a run directory shaped like a real one (run_info.json, metrics.jsonl with the
config's values as successive rows). ``fail`` makes it exit like a user error;
``finish_on_term`` makes it note a SIGTERM ("term") and finish anyway, as a run does that
is stopped during its last step.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

from jaxstyle.runtime import config as config_lib


def _ledger(config, workdir: Path, event: str) -> None:
  with open(config.ledger, 'a') as f:  # O_APPEND: concurrent lines do not interleave
    f.write(f'{workdir.name} {os.getpid()} {event}\n')


def main(argv):
  overrides, rest = config_lib.parse_override_args(argv)
  assert rest[0] == 'run' and rest[2].startswith('--workdir='), rest
  config = config_lib.apply_overrides(config_lib.load(rest[1]), overrides)
  workdir = Path(rest[2].split('=', 1)[1])
  resumed = (workdir / 'partial').exists()
  workdir.mkdir(parents=True, exist_ok=True)
  if config.finish_on_term:  # before 'start': the test signals once it sees that line
    signal.signal(signal.SIGTERM, lambda *_: _ledger(config, workdir, 'term'))
  _ledger(config, workdir, 'resume' if resumed else 'start')
  (workdir / 'partial').write_text('started\n')
  time.sleep(config.sleep)
  if config.fail:
    print('error: this cell is configured to fail', file=sys.stderr)
    sys.exit(2)
  values = [float(v) for v in str(config.series).split(',')]
  with open(workdir / 'metrics.jsonl', 'w') as f:
    for step, v in enumerate(values, 1):
      f.write(json.dumps({'step': step, 'loss': v * config.scale}) + '\n')
  (workdir / 'run_info.json').write_text(json.dumps(
      {'status': 'completed', 'wall_time_s': 1.5, 'seed': config.seed, 'device_kind': 'cpu',
       'devices': ['cpu:0'], 'cpu_count': 2, 'git': {'commit': 'abc1234567890'}}))
  _ledger(config, workdir, 'done')


if __name__ == '__main__':
  main(sys.argv[1:])
