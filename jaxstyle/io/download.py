"""Fetch files once into a cache directory, verified by checksum.

A download streams into a temporary file beside its destination and is renamed
into place only after its size and checksum match, so an interrupted transfer or a
wrong file never leaves anything in the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from jaxstyle.errors import DownloadError
from jaxstyle.io import fileio

CHUNK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class RemoteFile:
  """A file known by URL and checksum: 'md5:<hex>', 'sha256:<hex>', or 'sha256-prefix:<hex>'
  (only the leading digits are known, e.g. from a torch.hub file name)."""
  filename: str
  url: str
  checksum: str

  @property
  def algorithm(self) -> str:
    """The hashlib name of the checksum ('md5' or 'sha256')."""
    return self.checksum.split(':', 1)[0].removesuffix('-prefix')

  def matches(self, hexdigest: str) -> bool:
    """Whether a full hex digest of the file agrees with ``checksum`` (for a
    '-prefix' checksum: starts with the known digits).
    """
    if self.checksum.split(':', 1)[0].endswith('-prefix'):
      return hexdigest.startswith(self.digest)
    return hexdigest == self.digest

  @property
  def digest(self) -> str:
    """The hex digits of ``checksum`` (after the colon)."""
    return self.checksum.split(':', 1)[1]


def cache_dir() -> Path:
  """``$JAXSTYLE_CACHE``, else ``$XDG_CACHE_HOME/jaxstyle``, else ``~/.cache/jaxstyle``."""
  if os.environ.get('JAXSTYLE_CACHE'):
    return Path(os.environ['JAXSTYLE_CACHE'])
  base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
  return Path(base) / 'jaxstyle'


def file_digest(path: Path | str, algorithm: str) -> str:
  """Hex digest of the file at ``path`` with hashlib ``algorithm``, read in 1 MiB chunks."""
  h = hashlib.new(algorithm)
  with open(path, 'rb') as f:
    while chunk := f.read(CHUNK_BYTES):
      h.update(chunk)
  return h.hexdigest()


def verify(path: Path | str, remote: RemoteFile) -> bool:
  """Whether the file at ``path`` has ``remote``'s checksum."""
  return remote.matches(file_digest(path, remote.algorithm))


def fetch(remote: RemoteFile, *, cache: Path | None = None, hint: str = '',
          timeout_s: float = 60.0, progress=None) -> Path:
  """Returns the cached path of ``remote``, downloading and verifying it if needed.

  Args:
    remote: what to fetch.
    cache: directory to cache into (default ``cache_dir()``).
    hint: appended to errors; says how to supply the file without network.
    timeout_s: socket timeout.
    progress: optional callable(bytes_done, bytes_total_or_None).
  """
  cache = Path(cache) if cache is not None else cache_dir()
  target = cache / remote.filename
  if target.exists():
    if verify(target, remote):
      return target
    # A cached file that no longer matches (edited, truncated by a disk fault) is
    # not trusted; it is fetched again.
    target.unlink()
  try:
    cache.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise DownloadError(f'cannot create cache directory {cache}: {e.strerror}; '
                        f'set JAXSTYLE_CACHE to a writable directory') from None
  suffix = f' {hint}' if hint else ''

  def stream(out):
    h = hashlib.new(remote.algorithm)
    done = 0
    try:
      with urllib.request.urlopen(remote.url, timeout=timeout_s) as resp:
        total = resp.headers.get('Content-Length')
        total = int(total) if total is not None else None
        while chunk := resp.read(CHUNK_BYTES):
          out.write(chunk)
          h.update(chunk)
          done += len(chunk)
          if progress:
            progress(done, total)
    except Exception as e:  # URLError, OSError, http.client.IncompleteRead, ...
      if done == 0:
        reason = getattr(e, 'reason', None) or e
        raise DownloadError(f'could not download {remote.filename} from {remote.url} '
                            f'({reason}); no cached copy in {cache}.{suffix}') from None
      raise DownloadError(f'download of {remote.filename} from {remote.url} was '
                          f'interrupted after {done} bytes ({type(e).__name__}); '
                          f'nothing was cached, run again.{suffix}') from None
    if total is not None and done != total:
      raise DownloadError(f'download of {remote.filename} was interrupted: got {done} '
                          f'of {total} bytes; nothing was cached, run again.{suffix}')
    if not remote.matches(h.hexdigest()):
      raise DownloadError(
          f'{remote.filename} from {remote.url} has {remote.algorithm} '
          f'{h.hexdigest()}, expected {remote.digest}; the file was discarded.{suffix}')

  # Streams into a temporary file renamed into place only once size and checksum match.
  return fileio.atomic_write(target, stream)
