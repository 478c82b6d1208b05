"""Study storage by URL: SQLite by default, any SQLAlchemy URL Optuna takes, or a journal file.

- ``sqlite:///runs/NAME/study.db`` (the default): one file, fine for one worker process;
  several local workers work too (each write waits up to a minute for SQLite's lock).
- ``postgresql://user:password@host/db`` or ``mysql+pymysql://...``: several machines.
- ``journal:PATH``: Optuna's journal file storage (an append-only log with a file lock),
  the recommended storage for several worker processes on one machine.

Every form opens unchanged in optuna-dashboard (``optuna-dashboard sqlite:///runs/NAME/study.db``,
``optuna-dashboard runs/NAME/journal.log``).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import optuna

from workbench.errors import UserError

JOURNAL_PREFIX = "journal:"
SQLITE_PREFIX = "sqlite:///"
DRIVERS = {"postgresql": "psycopg2 (pip install psycopg2-binary)", "mysql": "mysqlclient or PyMySQL"}


def default_url(directory: str | Path) -> str:
    return f"{SQLITE_PREFIX}{Path(directory) / 'study.db'}"


def shown(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    if url.startswith(JOURNAL_PREFIX):
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can parse: the open will say so
        return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def journal_path(url: str) -> Path:
    path = url[len(JOURNAL_PREFIX):]
    if path.startswith("///"):  # journal:///abs/path
        path = path[2:]
    return Path(path)


def open_storage(url: str, source: str = "storage") -> optuna.storages.BaseStorage:
    """The storage behind ``url``, opened and checked (a study list is read); UserError if it cannot be."""
    try:
        storage = _open_racing(url)
        storage.get_all_studies()
    except UserError as error:
        raise UserError(f"{source}: {error}") from None
    except ImportError as error:  # Optuna re-raises a missing driver as ImportError
        scheme = url.split(":", 1)[0].split("+", 1)[0]
        hint = DRIVERS.get(scheme, getattr(error, "name", None) or "the driver SQLAlchemy names for this URL")
        raise UserError(f"{source}: cannot open {shown(url)}: its database driver is not installed "
                        f"(install {hint})") from None
    except Exception as error:  # noqa: BLE001 - any driver's connection error: the message says why
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{source}: cannot open {shown(url)}: {reason}") from None
    return storage


def _open_racing(url: str, attempts: int = 5) -> optuna.storages.BaseStorage:
    """``_open``, again after a short wait when another worker was creating the schema of the same new
    database at the same moment (PostgreSQL then fails one of them with a duplicate-key error)."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for _ in range(attempts - 1):
        try:
            return _open(url)
        except (IntegrityError, ProgrammingError):
            time.sleep(0.2 + random.random())
    return _open(url)


def _open(url: str) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = journal_path(url)
        if not str(path):
            raise UserError(f"storage {url!r}: name the journal file, e.g. journal:runs/NAME/journal.log")
        check_journal(path, url)
        _make_parent(path, url)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise UserError(f"storage {url!r}: not a storage URL (expected sqlite:///PATH, postgresql://..., "
                        "mysql+pymysql://... or journal:PATH)")
    engine_kwargs: dict = {}
    if is_sqlite(url):
        database = url.split(":///", 1)[1] if ":///" in url else ""
        if database and database != ":memory:":
            _make_parent(Path(database), url)
        engine_kwargs = {"connect_args": {"timeout": 60}}  # several workers: wait for the lock
    elif url.startswith(("postgresql", "mysql")):
        engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


JOURNAL_PROBE_BYTES = 1 << 20


def check_journal(path: Path, url: str) -> None:
    """UserError unless ``path`` is absent, empty, or starts with an Optuna journal record: Optuna
    would append to any file before failing on it, changing a file that is not its own."""
    if not path.exists():
        return
    if not path.is_file():
        raise UserError(f"storage {url!r}: {path} is not a regular file, so not a journal")
    with open(path, "rb") as stream:
        head = stream.read(JOURNAL_PROBE_BYTES)
    if not head:
        return
    first = head.split(b"\n", 1)[0]
    try:
        record = json.loads(first.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        record = None
    if not isinstance(record, dict) or "op_code" not in record:
        raise UserError(f"storage {url!r}: {path} exists and is not an Optuna journal (its first line is no "
                        "journal record); nothing was written to it. Name a new file or an existing journal")


def _make_parent(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot open {url}: cannot create {path.parent} ({error.strerror or error})") from None
