"""The library's layering: jaxstyle never imports the experiments layer, and kernels/ and
io/ import nothing above them."""

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import jaxstyle

PACKAGE = Path(jaxstyle.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
  """Every module name an ``import``/``from ... import`` statement in ``path`` names."""
  names = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names.add(node.module)
      names.update(f'{node.module}.{a.name}' for a in node.names)
  return names


def test_no_library_module_imports_experiments():
  offenders = {str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p)
                                                   if n.split('.')[0] == 'experiments')
               for p in PACKAGE.rglob('*.py')}
  assert {k: v for k, v in offenders.items() if v} == {}
  # The text check of the issue that asked for it: no line mentions importing experiments.
  lines = [f'{p.name}: {line.strip()}' for p in PACKAGE.rglob('*.py')
           for line in p.read_text().splitlines()
           if 'import' in line and 'experiments' in line and not line.strip().startswith('#')]
  assert lines == []


def test_kernels_and_io_import_nothing_above_them():
  allowed = ('jaxstyle.errors', 'jaxstyle.io', 'jaxstyle.kernels')
  for sub in ('kernels', 'io'):
    for path in (PACKAGE / sub).rglob('*.py'):
      above = [n for n in _imports(path) if n.startswith('jaxstyle')
               and not n.startswith(allowed) and n != 'jaxstyle']
      assert above == [], f'{sub}/{path.name} imports {above}'


BLOCKED_IMPORT = """
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])

class NoExperiments:
  def find_spec(self, name, path=None, target=None):
    if name == 'experiments' or name.startswith('experiments.'):
      raise ImportError(f'the library imported {name}')
    return None

sys.meta_path.insert(0, NoExperiments())
import jaxstyle
assert jaxstyle.__file__.startswith(sys.argv[1]), jaxstyle.__file__
names = [m.name for m in pkgutil.walk_packages(jaxstyle.__path__, 'jaxstyle.')
         if m.name != 'jaxstyle.__main__']
for name in names:
  importlib.import_module(name)
print(len(names))
"""


def test_every_library_module_imports_without_experiments_on_the_path(tmp_path):
  # Only the library is reachable: a link to jaxstyle/ in an empty folder, Python in
  # isolated mode (no current directory, no PYTHONPATH), and any import of experiments
  # refused even where an installed copy could provide it.
  (tmp_path / 'jaxstyle').symlink_to(PACKAGE, target_is_directory=True)
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  r = subprocess.run([sys.executable, '-I', '-c', BLOCKED_IMPORT, str(tmp_path)], cwd=tmp_path,
                     env=env, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  expected = [m.name for m in pkgutil.walk_packages(jaxstyle.__path__, 'jaxstyle.')
              if m.name != 'jaxstyle.__main__']
  assert int(r.stdout.strip().splitlines()[-1]) == len(expected) > 40


def test_package_docstring_names_every_subpackage():
  subpackages = sorted(m.name for m in pkgutil.iter_modules(jaxstyle.__path__) if m.ispkg)
  assert subpackages == ['data', 'feedforward', 'gan', 'gatys', 'io', 'kernels', 'metrics',
                         'perceptual', 'runtime', 'sweeps']
  missing = [s for s in subpackages if f'``{s}``' not in jaxstyle.__doc__]
  assert missing == []
