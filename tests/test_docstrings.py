"""Every public module, function, class and method has a docstring.

Covers the library (``jaxstyle/**.py``) and the shipped configs and sweep files
(``experiments/configs/*.py``, ``experiments/sweeps/*.py``). Public means a name not
starting with '_'; methods count for public classes. Uses ``ast`` only (nothing is
imported), so it runs in well under a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _files() -> list[Path]:
  return (sorted((ROOT / 'jaxstyle').rglob('*.py'))
          + sorted((ROOT / 'experiments' / 'configs').glob('*.py'))
          + sorted((ROOT / 'experiments' / 'sweeps').glob('*.py')))


def _missing(path: Path) -> list[str]:
  """'path:line name' for each public definition of ``path`` without a docstring."""
  rel = path.relative_to(ROOT)
  tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
  out = [] if ast.get_docstring(tree) else [f'{rel}: module']
  for node in tree.body:
    if not isinstance(node, _DEFS) or node.name.startswith('_'):
      continue
    if not ast.get_docstring(node):
      out.append(f'{rel}:{node.lineno} {node.name}')
    if isinstance(node, ast.ClassDef):
      for member in node.body:
        if (isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef))
            and not member.name.startswith('_') and not ast.get_docstring(member)):
          out.append(f'{rel}:{member.lineno} {node.name}.{member.name}')
  return out


def test_files_are_found():
  names = {p.relative_to(ROOT).as_posix() for p in _files()}
  assert 'jaxstyle/cli.py' in names
  assert 'experiments/configs/gatys.py' in names
  assert 'experiments/sweeps/gatys_fig2.py' in names


def test_every_public_definition_has_a_docstring():
  missing = [m for path in _files() for m in _missing(path)]
  assert not missing, (f'{len(missing)} public definitions without a docstring:\n  '
                       + '\n  '.join(missing))
