"""A stand-in for `jaxstyle run` that records the environment a sweep cell received.

Same arguments as `jaxstyle run CONFIG --workdir=DIR --config.k=v ...`; no JAX. It writes
DIR/env.json (the device and memory variables the runner may set, null when unset, and
its pid) and a finished run's run_info.json, then exits 0. With ENV_STUB_BARRIER=N it
first waits (up to a minute) until N cells have started, so that N workers each hold one.
"""

import json
import os
import sys
import time
from pathlib import Path

RECORDED = ('CUDA_VISIBLE_DEVICES', 'XLA_PYTHON_CLIENT_PREALLOCATE', 'TPU_VISIBLE_CHIPS',
            'TPU_CHIPS_PER_PROCESS_BOUNDS', 'TPU_PROCESS_BOUNDS', 'TPU_PROCESS_PORT',
            'TPU_PROCESS_ADDRESSES', 'JAX_NUM_CPU_DEVICES', 'JAXSTYLE_COORDINATOR')


def main(argv):
  assert argv[0] == 'run' and argv[2].startswith('--workdir='), argv
  workdir = Path(argv[2].split('=', 1)[1])
  workdir.mkdir(parents=True, exist_ok=True)
  env = {key: os.environ.get(key) for key in RECORDED}
  (workdir / 'env.json').write_text(json.dumps({**env, 'pid': os.getpid()}))
  # A worker blocked here holds its cell, so the next cell must go to another worker.
  deadline = time.time() + 60
  while (time.time() < deadline and len(list(workdir.parent.glob('*/env.json')))
         < int(os.environ.get('ENV_STUB_BARRIER', 0))):
    time.sleep(0.05)
  (workdir / 'run_info.json').write_text(json.dumps({'status': 'completed', 'wall_time_s': 0.1}))


if __name__ == '__main__':
  main(sys.argv[1:])
