"""The ``jaxstyle`` command.

    jaxstyle run CONFIG[:VARIANTS] --workdir DIR [--config.KEY=VALUE ...] [--print_config]
    jaxstyle stylise --model RUN_OR_FILE --input IMAGE_OR_FOLDER --output PATH [...]
    jaxstyle evaluate --workdir RUN [--step N] [--config.eval.KEY=VALUE ...]
    jaxstyle sample --workdir RUN --out FILE.png|FILE.npz|DIR [--step N] [--num N]
                    [--class K,...] [--per-class N] [--no-ema] [--seed S]
    jaxstyle sweep run SWEEP[:ARGS] [--dir DIR] [--workers N] [--accelerator A]
                       [--devices-per-worker K] [--share-devices] [--config.KEY=VALUE ...]
    jaxstyle sweep status DIR
    jaxstyle sweep report DIR [--out DIR] [--baseline AXIS=LABEL,...]
    jaxstyle reproduce RUN_OR_SWEEP_OR_RESULTS [--cells REGEX] [--limit N] [--out DIR]
                       [--config.KEY=VALUE ...]

CONFIG is a shipped config's name (``jaxstyle run --help`` lists them) or a config file;
SWEEP likewise. ``--config.KEY=VALUE`` is the one override syntax of every subcommand
(``jaxstyle.runtime.config``). A user error (bad input, a missing file, a bad config
value or option) prints one line starting with ``error:`` and exits with status 2;
Ctrl-C or SIGTERM stops a run cleanly (exit 130), keeping what it has done.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Sequence

from jaxstyle.errors import ConfigError, JaxstyleError
from jaxstyle.runtime import config as config_lib

# config.task -> the module with ``run(config, workdir, show_progress)`` and ``summary``.
TASKS = {'gatys': 'jaxstyle.gatys.task', 'gan': 'jaxstyle.gan.task',
         'feedforward': 'jaxstyle.feedforward.task'}


class _Parser(argparse.ArgumentParser):
  """argparse whose errors are one ``error:`` line (no usage dump), exit status 2."""

  def error(self, message):
    self.exit(2, f'error: {self.prog}: {message}\n')


def _subparsers(parser, dest: str):
  return parser.add_subparsers(dest=dest, required=True, metavar='COMMAND',
                               parser_class=_Parser)


def _build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog='jaxstyle', description='Reproducible neural style transfer and GAN '
                   'experiments in JAX. Every subcommand has --help.')
  sub = _subparsers(parser, 'command')

  run = sub.add_parser('run', help='run (or resume) an experiment from a config',
                       description='Runs an experiment; a training run resumes from the '
                       'checkpoints in --workdir. Shipped configs: '
                       + (', '.join(config_lib.shipped()) or 'none installed') + '.')
  run.add_argument('config', metavar='CONFIG[:VARIANTS]',
                   help='a shipped config name or a config .py file, with comma-separated variants')
  run.add_argument('--workdir', help='run directory (created; a training run resumes in it)')
  run.add_argument('--print_config', '--print-config', action='store_true',
                   help='print the resolved config (after overrides) and exit')

  st = sub.add_parser('stylise', help='apply a trained feed-forward network to images',
                      description='Applies a trained feed-forward model (Johnson, AdaIN) to an '
                      'image or every image of a folder, or samples textures from a texture '
                      'network. Outputs are written atomically; unreadable images in a folder '
                      'are skipped with a warning unless --on-bad-image stop.')
  st.add_argument('--model', required=True, help='model.jaxstyle file, run directory, or a '
                  'pytorch/examples fast_neural_style .pth model')
  st.add_argument('--input', default='', help='content image file or folder (not for textures)')
  st.add_argument('--output', required=True, help='output file (one input) or folder')
  st.add_argument('--style', default='', help='AdaIN: comma-separated style images')
  st.add_argument('--style-weights', default='', help='AdaIN: comma-separated blend weights')
  st.add_argument('--alpha', type=float, default=1.0, help='AdaIN: content/style trade-off')
  st.add_argument('--preserve-colors', action='store_true',
                  help="keep the content's colours (Johnson: luminance transfer; AdaIN: "
                       'colour-matched styles)')
  st.add_argument('--max-side', type=int, default=0, help='resize inputs to at most this side')
  st.add_argument('--num-samples', type=int, default=4, help='textures: how many')
  st.add_argument('--size', default='512', help='textures: SIDE or HxW')
  st.add_argument('--seed', type=int, default=0, help='textures: noise seed')
  st.add_argument('--bucket', type=int, default=64, help='pad sizes up to multiples of this')
  st.add_argument('--batch', type=int, default=8, help='largest batch per call')
  st.add_argument('--on-bad-image', choices=('skip', 'stop'), default='skip')

  ev = sub.add_parser('evaluate', help="evaluate a GAN run's checkpoint again",
                      description="Evaluates a saved step of a GAN run (the config's eval.* "
                      'settings, changeable with --config.eval.KEY=VALUE) into '
                      'eval_step_N.json in the run directory.')
  ev.add_argument('--workdir', required=True, help='run directory of a GAN run')
  ev.add_argument('--step', type=int, help='checkpoint step (default: the latest)')

  sa = sub.add_parser('sample', help="generate from a GAN run's checkpoint",
                      description='Writes samples of a GAN run (latest or --step checkpoint, '
                      'EMA weights when the run kept them) as one PNG grid (a class-by-row grid '
                      'for a conditional run), an .npz array file, or a directory of PNGs. '
                      'Reads no training data.')
  sa.add_argument('--workdir', required=True, help='run directory of a GAN run')
  sa.add_argument('--out', required=True, help='FILE.png (grid), FILE.npz, or a directory')
  sa.add_argument('--step', type=int, help='checkpoint step (default: the latest)')
  sa.add_argument('--num', type=int, default=64, help='samples (unconditional runs)')
  sa.add_argument('--class', dest='classes', help="conditional runs: classes by index or "
                  "name, comma-separated, or 'all' (the default)")
  sa.add_argument('--per-class', type=int, default=8, help='samples per class (a grid row)')
  sa.add_argument('--no-ema', action='store_true', help='the raw generator weights, not the EMA')
  sa.add_argument('--seed', type=int, default=0, help='noise seed')

  sw = sub.add_parser('sweep', help='run, follow and report sweeps (ablations, paper grids)')
  swsub = _subparsers(sw, 'sweep_command')
  srun = swsub.add_parser('run', help='run (or continue) a sweep',
                          description='Runs every cell of a sweep as its own `jaxstyle run` '
                          'process, skipping finished cells and resuming interrupted ones. '
                          'Shipped sweeps: '
                          + (', '.join(config_lib.shipped(config_lib.SWEEP_GROUP)) or 'none') + '.')
  srun.add_argument('sweep', metavar='SWEEP[:ARGS]', help='a shipped sweep name or sweep .py file')
  srun.add_argument('--dir', help='sweep directory (default runs/sweeps/NAME)')
  srun.add_argument('--workers', type=int, default=1, help='worker processes on this host')
  srun.add_argument('--cores-per-worker', type=int, default=0,
                    help='pin each worker to this many cores (0: no pinning)')
  srun.add_argument('--accelerator', choices=('auto', 'cpu', 'gpu', 'tpu'), default='auto',
                    help='devices to split among the workers (auto: GPUs, else TPU chips, '
                    'else CPU; found without starting JAX)')
  srun.add_argument('--devices-per-worker', '--devices_per_worker', type=int, default=0,
                    help='GPUs or TPU chips per worker (0: an even split of the host)')
  srun.add_argument('--share-devices', action='store_true',
                    help='allow more workers than GPUs (pre-allocation off)')
  srun.add_argument('--host-index', type=int, help='this host, 0..num_hosts-1')
  srun.add_argument('--num-hosts', type=int, help='hosts sharing the sweep')
  srun.add_argument('--only', default='', help='regex: only the cells whose name matches')
  srun.add_argument('--retry-failed', action='store_true', help='run failed cells again')
  srun.add_argument('--dry-run', action='store_true', help='print the commands, run nothing')
  srun.add_argument('--worker-name', help=argparse.SUPPRESS)
  srun.add_argument('--cpus', help=argparse.SUPPRESS)
  sstatus = swsub.add_parser('status', help='count cells by state')
  sstatus.add_argument('dir')
  sreport = swsub.add_parser('report', help='table.md, summary.json, sheet.png')
  sreport.add_argument('dir')
  sreport.add_argument('--out', help='output directory (default: the sweep directory)')
  sreport.add_argument('--tile', type=int, default=160, help='contact sheet tile size (px)')
  sreport.add_argument('--only', default='', help='regex: report only the cells whose name '
                       'matches (part of a sweep)')
  sreport.add_argument('--baseline', help='AXIS=LABEL,... the group each group is compared '
                       'with (Welch t-test; default: the sweep\'s baseline; \'\': none)')
  rp = sub.add_parser('reproduce', help='rerun recorded runs and compare their numbers',
                      description='Reruns the recorded commands of a run directory, a sweep '
                      'directory or a results folder (a sweep report summary.json or a '
                      'reproduce.json) and says per metric: bitwise equal, within the recorded '
                      "seeds' spread (95 %% prediction interval), or outside it, next to how the "
                      "rerun's fingerprint differs. --config.KEY=VALUE changes every rerun. Exit "
                      'status 1 if a number is outside the spread or differs.')
  rp.add_argument('path', help='run directory, sweep directory or results folder')
  rp.add_argument('--cells', default='', help='regex: only the runs whose name matches')
  rp.add_argument('--limit', type=int, help='rerun at most this many (after --cells)')
  rp.add_argument('--out', help='where reruns go (default runs/reproduce/NAME)')
  rp.add_argument('--dry-run', action='store_true', help='print the commands, run nothing')
  return parser


def _reproduce(args, overrides) -> int:
  from jaxstyle.sweeps import reproduce
  return reproduce.cmd_reproduce(args, overrides)


def _run(args, overrides) -> int:
  config = config_lib.load(args.config)
  config_lib.apply_overrides(config, overrides)
  if args.print_config:
    print(json.dumps(json.loads(config.to_json_best_effort()), indent=2, sort_keys=True))
    return 0
  if not args.workdir:
    raise ConfigError('run needs --workdir DIR (the run directory to create or resume)')
  task = config.get('task')
  if task not in TASKS:
    raise ConfigError(f'config {args.config} has task {task!r}; tasks are {", ".join(TASKS)}')
  config.lock()
  module = importlib.import_module(TASKS[task])
  try:
    info = module.run(config, args.workdir, show_progress=sys.stderr.isatty())
  except KeyboardInterrupt:
    print(f'interrupted: {module.INTERRUPTED} in {args.workdir}', file=sys.stderr)
    return 130
  print(module.summary(info, args.workdir))
  return 0


def _evaluate(args, overrides) -> int:
  from jaxstyle.gan import evaluation
  result = evaluation.evaluate_checkpoint(args.workdir, args.step, overrides)
  print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=2))
  return 0


def _sample(args, overrides) -> int:
  from jaxstyle.gan import sampling
  if overrides:
    raise ConfigError('sample takes no --config.* options: the run directory holds its config')
  r = sampling.sample_run(args.workdir, args.out, args.step, args.num, args.classes,
                          args.per_class, not args.no_ema, args.seed)
  classes = f', classes {",".join(r["classes"])}' if r['classes'] else ''
  print(f'wrote {r["path"]}: {r["num"]} samples of step {r["step"]} '
        f'({"EMA" if r["ema"] else "raw"} weights{classes})')
  return 0


def _stylise(args, overrides) -> int:
  from jaxstyle.feedforward import apply
  if overrides:
    raise ConfigError('stylise takes no --config.* options: the model file holds its config')
  report = apply.stylise_paths(
      args.model, args.input, args.output, style=args.style,
      style_weights=args.style_weights, alpha=args.alpha,
      preserve_colors=args.preserve_colors, max_side=args.max_side,
      num_samples=args.num_samples, size=args.size, seed=args.seed, bucket=args.bucket,
      batch=args.batch, on_bad_image=args.on_bad_image)
  if report.skipped:
    print(f'warning: skipped {len(report.skipped)} unreadable image(s); first: '
          f'{report.skipped[0]}', file=sys.stderr)
  print(report.summary())
  return 0


def _sweep(args, overrides) -> int:
  from jaxstyle.sweeps import runner
  if args.sweep_command != 'run' and overrides:
    raise ConfigError(f'sweep {args.sweep_command} takes no --config.* options')
  if args.sweep_command == 'run':
    if args.workers < 1:
      raise ConfigError(f'--workers must be >= 1, got {args.workers}')
    return runner.cmd_run(args, overrides)
  return {'status': runner.cmd_status, 'report': runner.cmd_report}[args.sweep_command](args)


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the ``jaxstyle`` command with ``argv`` (default ``sys.argv[1:]``) and returns its
  exit status: 0 on success, 1 if sweep cells failed, 2 for a user error (one ``error:``
  line on stderr), 130 when interrupted."""
  argv = list(sys.argv[1:] if argv is None else argv)
  try:
    overrides, rest = config_lib.parse_override_args(argv)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  args = _build_parser().parse_args(rest)
  handlers = {'run': _run, 'stylise': _stylise, 'evaluate': _evaluate, 'sample': _sample,
              'sweep': _sweep, 'reproduce': _reproduce}
  try:
    return handlers[args.command](args, overrides)
  except JaxstyleError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt:  # stylise / evaluate / sweep status|report: nothing to keep
    print(f'interrupted: jaxstyle {args.command}', file=sys.stderr)
    return 130


def entry_point() -> None:
  """The console script (``jaxstyle``)."""
  sys.exit(main())

