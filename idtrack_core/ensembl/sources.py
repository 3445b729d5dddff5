"""Sources of Ensembl core tables: MySQL dump folders (any fsspec URL) and live MySQL servers.

Both give the same thing: the core databases of a species, each table's columns, and a table's rows as a
typed DataFrame (``Int64`` / ``Float64`` / ``string``), so normalization never knows where rows came from.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import logging
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from functools import cache, cached_property
from typing import IO, TYPE_CHECKING, Any, Protocol

from idtrack_core import network, storage
from idtrack_core.ensembl.databases import (
    CoreDatabase,
    RowFilter,
    assembly_matches,
    assembly_suffix,
    newest_per_species,
    parse_any_core_db_name,
    parse_core_db_name,
    validate_species,
)
from idtrack_core.ensembl.mysqldump import (
    NON_UTF8_KEY,
    Column,
    TableSchema,
    blocks_to_table,
    column_kind,
    decode,
    decode_counted,
    frame_to_table,
    parse_create_tables,
    table_to_frame,
)
from idtrack_core.errors import (
    DumpFormatError,
    MissingTableError,
    SourceError,
    SourceNotFoundError,
    UnknownReleaseError,
    UnknownSpeciesError,
)
from idtrack_core.network import NetworkSettings

if TYPE_CHECKING:  # pandas loads when a table is read, not when a source is opened
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)
_BLOCK = 1 << 23
_RELEASE_DIR = re.compile(r"^release-(\d+)$")
_IDENT = re.compile(r"^[A-Za-z0-9_]+$")
_LISTED = 12  # names listed in an error message at most
_MYSQL_REFUSALS = {1044, 1045, 1049, 1227}  # access denied (database, user), unknown database, no privilege


class EnsemblSource(Protocol):
    """What release extraction needs from a source of Ensembl core tables."""

    url: str

    def list_databases(self, species: str, assembly: str | None = None) -> list[CoreDatabase]: ...

    def list_all_databases(self) -> list[CoreDatabase]:
        """Every core database of every species at the source (for error messages and suggestions)."""
        ...

    def table_schema(self, db: CoreDatabase, table: str) -> TableSchema | None: ...

    def read_table(
        self, db: CoreDatabase, table: str, columns: Sequence[str], rows: RowFilter | None = None
    ) -> pd.DataFrame:
        """The rows of ``table`` (those ``rows`` selects, or all) as a typed DataFrame of ``columns``."""
        ...

    def read_arrow(
        self, db: CoreDatabase, table: str, columns: Sequence[str], rows: RowFilter | None = None
    ) -> pa.Table:
        """:meth:`read_table` as an Arrow table (int64, float64, string); the number of values that were not valid
        UTF-8 is in its schema metadata (:func:`idtrack_core.ensembl.mysqldump.non_utf8_values`)."""
        ...

    def fingerprint(self, db: CoreDatabase) -> str:
        """A cheap digest that changes when the database's tables change (file sizes and dates, or the
        server's table statistics)."""
        ...

    def species_meta(self) -> pd.DataFrame:
        """``production_name, meta_key, meta_value``: the ``species.*`` meta rows of each species' newest core
        database at the source (the source's own list of species and their names)."""
        ...


def find_database(source: EnsemblSource, species: str, assembly: str | None, release: int) -> CoreDatabase:
    """The core database of ``species``/``assembly`` at ``release``.

    Raises
    ------
    UnknownSpeciesError
        No database of the species (or assembly): the message lists what the source has and the closest name.
    UnknownReleaseError
        The release is missing: the message lists the releases the source has.
    """
    dbs = databases_of(source, species, assembly)
    for db in dbs:
        if db.release == release:
            return db
    available = ", ".join(str(r) for r in sorted({d.release for d in dbs}))
    raise UnknownReleaseError(
        f"release {release} of {species} {assembly or ''} not found at {source.url}; available: {available}"
    )


def previous_database(source: EnsemblSource, db: CoreDatabase) -> CoreDatabase | None:
    """The database of the same species and assembly with the newest release before ``db``'s at ``source``
    (None when ``db`` is the oldest one there).

    Every Ensembl core database carries the cumulative history (``mapping_session``, ``stable_id_event``), so
    the sessions ``db`` has and this one lacks are the history that is new in ``db``.
    """
    earlier = [
        d
        for d in source.list_databases(db.species, db.assembly)
        if d.assembly == db.assembly and d.release < db.release
    ]
    return max(earlier, key=lambda d: d.release) if earlier else None


def latest_release(source: EnsemblSource, species: str, assembly: str | None) -> int:
    """The newest release ``source`` has for ``species``/``assembly`` (errors as :func:`databases_of`)."""
    return max(db.release for db in databases_of(source, species, assembly))


def databases_of(source: EnsemblSource, species: str, assembly: str | None) -> list[CoreDatabase]:
    """The core databases of ``species``/``assembly`` at ``source``, never empty.

    Raises
    ------
    UnknownSpeciesError
        There is none; the message lists the species (or the species' assemblies) the source has and suggests
        the closest name.
    """
    dbs = source.list_databases(species, assembly)
    if not dbs:
        raise unknown_species_error(source, species, assembly)
    return dbs


def unknown_species_error(source: EnsemblSource, species: str, assembly: str | None) -> UnknownSpeciesError:
    """The error for a species/assembly the source does not have, listing what it has and the closest name."""
    species = validate_species(species)
    everything = source.list_all_databases()
    if not everything:
        return UnknownSpeciesError(f"no core database of species {species!r} at {source.url}: the source has none")
    same_species = [d for d in everything if d.species == species]
    if same_species and assembly is not None:
        assemblies = sorted({d.assembly for d in same_species})
        return UnknownSpeciesError(
            f"no core database of species {species!r} assembly {assembly!r} at {source.url}; "
            f"assemblies of {species}: {', '.join(assemblies)}"
        )
    names = sorted({d.species for d in everything})
    wanted = f"species {species!r}" + (f" assembly {assembly!r}" if assembly else "")
    return UnknownSpeciesError(
        f"no core database of {wanted} at {source.url}{suggestion(species, names)}; available species: {listing(names)}"
    )


def suggestion(name: str, choices: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` (difflib), or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def listing(names: Sequence[str], at_most: int = _LISTED) -> str:
    """Names joined by commas, the first ``at_most`` only (with how many more)."""
    shown = ", ".join(str(n) for n in names[:at_most])
    return shown + (f" … and {len(names) - at_most} more" if len(names) > at_most else "")


def open_source(url: str, **options: Any) -> EnsemblSource:
    """A source for ``url``: ``mysql://user[:password]@host[:port]`` or a dump root (path, http(s), s3)."""
    if url.startswith("mysql://"):
        return MySQLSource.from_url(url, **options)
    return DumpSource(url, **options)


# ---------------------------------------------------------------------------------------------- dumps


class DumpSource:
    """Ensembl MySQL dumps under a root URL.

    Two layouts are understood: the FTP layout
    ``{root}[/grch37]/release-{R}/mysql/{species}_core_{R}_{asm}/{table}.txt[.gz]`` with ``{db}.sql[.gz]``,
    and the Ensembl test-database layout (``{root}/table.sql`` + ``{root}/{table}.txt``), whose release is
    the newest ``mapping_session.new_release`` (else ``meta.schema_version``).
    """

    def __init__(
        self,
        root: str,
        storage_options: dict[str, Any] | None = None,
        network: NetworkSettings | None = None,
    ) -> None:
        self.url = storage.redact(root.rstrip("/"))
        self._root = root.rstrip("/")
        self._opts = storage_options or {}
        self.network = network or NetworkSettings.from_env()
        self._local_root = storage.local_path(self._root)
        self._root_path = self._local_root or storage.url_to_fs(self._root, **self._opts)[1]
        self._files: dict[str, set[str]] = {}
        self._schemas: dict[str, dict[str, TableSchema]] = {}

    @cached_property
    def fs(self) -> Any:
        """The fsspec filesystem of the root (listing a local root does not need it: see :meth:`_entries`)."""
        return storage.url_to_fs(self._root, **self._opts)[0]

    # -- listing
    def _entries(self, path: str, detail: bool) -> list[Any]:
        """``fs.ls(path, detail)``; a local root is listed with :mod:`os`, the same entries without fsspec."""
        if self._local_root is None:
            return self.fs.ls(path, detail=detail)
        entries = storage.local_entries(path)
        return entries if detail else [e["name"] for e in entries]

    def _retry(self, fn: Any, what: str) -> Any:
        return network.retrying(fn, what, self.network)

    def _ls(self, path: str) -> list[str]:
        def attempt() -> list[str]:
            try:
                return sorted(os.path.basename(p.rstrip("/")) for p in self._entries(path, detail=False))
            except FileNotFoundError as exc:
                if network.is_transient(exc):  # a timeout or refused connection reported as "not found"
                    raise
                return []

        return self._retry(attempt, f"listing {self._display(path)}")

    def _require_root(self) -> None:
        """Raise SourceNotFoundError when the dump root does not exist (rather than listing nothing)."""
        if self._dir_files(self._root_path):
            return
        if self._local_root is not None:
            found = os.path.exists(self._local_root)
        else:
            found = self._retry(lambda: self.fs.exists(self._root_path), f"checking {self.url}")
        if not found:
            raise SourceNotFoundError(f"{self.url}: no such folder or URL (expected a dump root holding release-N/)")

    def _display(self, path: str) -> str:
        rel = path[len(self._root_path) :].lstrip("/") if path.startswith(self._root_path) else path
        return storage.join(self.url, rel) if rel else self.url

    def _dir_files(self, path: str) -> set[str]:
        if path not in self._files:
            self._files[path] = set(self._ls(path))
        return self._files[path]

    def is_test_db_layout(self) -> bool:
        return "table.sql" in self._dir_files(self._root_path)

    def list_databases(self, species: str, assembly: str | None = None) -> list[CoreDatabase]:
        species = validate_species(species)
        self._require_root()
        if self.is_test_db_layout():
            db = self._test_db()
            ok = species in db_species_names(self, db) and assembly_matches(db.assembly, assembly)
            return [db] if ok else []
        return [db for db in self._ftp_databases(species) if assembly_matches(db.assembly, assembly)]

    def list_all_databases(self) -> list[CoreDatabase]:
        self._require_root()
        if self.is_test_db_layout():
            return [self._test_db()]
        return self._ftp_databases(None)

    def _ftp_databases(self, species: str | None) -> list[CoreDatabase]:
        """Core databases of the FTP layout (of ``species``, or of every species when None)."""
        dbs: list[CoreDatabase] = []
        for base in self._bases():
            for entry in self._dir_files(base):
                m = _RELEASE_DIR.match(entry)
                if not m:
                    continue
                mysql_dir = f"{base}/{entry}/mysql"
                for name in self._dir_files(mysql_dir):
                    parsed = parse_any_core_db_name(name)
                    if parsed and parsed[1] == int(m.group(1)) and species in (None, parsed[0]):
                        dbs.append(CoreDatabase(*parsed, name, f"{mysql_dir}/{name}"))
        return sorted(dbs)

    def species_meta(self) -> pd.DataFrame:
        if self.is_test_db_layout():
            db = self._test_db()
            return _species_rows([(db.species, self.read_table(db, "meta", ["meta_key", "meta_value"]))])
        newest = newest_per_species(self.list_all_databases())
        return _species_rows([(db.species, self.read_table(db, "meta", ["meta_key", "meta_value"])) for db in newest])

    def _bases(self) -> list[str]:
        """The root and, when present, Ensembl's ``grch37`` tree."""
        bases = [self._root_path]
        if "grch37" in self._dir_files(self._root_path):
            bases.append(f"{self._root_path}/grch37")
        return bases

    @cache  # noqa: B019 - one source object lists its test DB once
    def _test_db(self) -> CoreDatabase:
        probe = CoreDatabase("", 0, "", os.path.basename(self._root_path), self._root_path)
        meta = self.read_table(probe, "meta", ["meta_key", "meta_value"])
        sessions = self.read_table(probe, "mapping_session", ["new_release"])
        release = _test_db_release(meta, sessions, self._display(self._root_path))
        values = _meta_values(meta)
        species = (values.get("species.production_name") or [""])[0]
        assembly = (values.get("assembly.default") or ["unknown"])[0]
        return CoreDatabase(species, release, assembly, probe.name, self._root_path)

    # -- tables
    def _table_file(self, db: CoreDatabase, table: str) -> str | None:
        files = self._dir_files(db.location)
        for name in (f"{table}.txt.gz", f"{table}.txt"):
            if name in files:
                return f"{db.location}/{name}"
        return None

    def _schemas_of(self, db: CoreDatabase) -> dict[str, TableSchema]:
        if db.location not in self._schemas:
            files = self._dir_files(db.location)
            candidates = [f"{db.name}.sql.gz", f"{db.name}.sql", "table.sql", "table.sql.gz"]
            found = next((c for c in candidates if c in files), None)
            if found is None:
                raise MissingTableError(
                    f"{self._display(db.location)}: no schema file (expected {db.name}.sql.gz or table.sql)"
                )
            path = f"{db.location}/{found}"
            text = self._retry(lambda: _read_text(self.fs, path, self._display(path)), path)
            self._schemas[db.location] = parse_create_tables(text)
        return self._schemas[db.location]

    def table_schema(self, db: CoreDatabase, table: str) -> TableSchema | None:
        schema = self._schemas_of(db).get(table)
        if schema is None or self._table_file(db, table) is None:
            return None
        return schema

    def fingerprint(self, db: CoreDatabase) -> str:
        def attempt() -> list[tuple[str, ...]]:
            entries = self._entries(db.location, detail=True)
            keep = ("size", "mtime", "LastModified", "ETag", "last_modified", "etag")
            return sorted(
                (os.path.basename(e["name"].rstrip("/")), *(str(e.get(k, "")) for k in keep)) for e in entries
            )

        listing = self._retry(attempt, f"listing {self._display(db.location)}")
        return hashlib.sha256(repr(listing).encode()).hexdigest()

    def read_table(
        self, db: CoreDatabase, table: str, columns: Sequence[str], rows: RowFilter | None = None
    ) -> pd.DataFrame:
        return table_to_frame(self.read_arrow(db, table, columns, rows))

    def read_arrow(
        self, db: CoreDatabase, table: str, columns: Sequence[str], rows: RowFilter | None = None
    ) -> pa.Table:
        schema = self._schemas_of(db).get(table)
        path = self._table_file(db, table)
        if schema is None or path is None:
            what = "CREATE TABLE statement" if schema is None else "data file"
            raise MissingTableError(f"{self._display(db.location)}: table {table!r} has no {what}")
        missing = [c for c in [*columns, *([rows.column] if rows else [])] if c not in schema.column_names]
        if missing:
            raise MissingTableError(f"{self._display(path)}: table {table!r} has no column(s) {missing}")
        display = self._display(path)
        log.debug("reading %s", display)
        return self._retry(
            lambda: blocks_to_table(_read_blocks(self.fs, path, display), schema, columns, display, rows),
            f"reading {display}",
        )


def _read_blocks(fs: Any, path: str, display: str) -> Iterator[bytes]:
    """Stream a (possibly gzipped) dump file in blocks that end at a record boundary (a newline not escaped
    by a backslash)."""
    with fs.open(path, "rb") as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
        if path.endswith(".gz") and not raw.read(1):  # gzip reads an empty file as an empty table: it is not one
            raise DumpFormatError(display, "0 bytes: not a gzip stream (a truncated download?)")
        raw.seek(0)
        rest = b""
        while True:
            try:
                block = stream.read(_BLOCK)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise DumpFormatError(display, f"truncated or corrupt gzip stream ({exc})") from exc
            if not block:
                break
            block = rest + block
            cut = _record_boundary(block)
            rest = block[cut:]
            if cut:
                yield block[:cut]
        if rest:
            yield rest


def _record_boundary(block: bytes) -> int:
    """Length of the longest prefix of ``block`` ending with an unescaped newline (0 if none)."""
    end = len(block)
    while (cut := block.rfind(b"\n", 0, end)) >= 0:
        backslashes = cut - len(block[:cut].rstrip(b"\\"))
        if backslashes % 2 == 0:
            return cut + 1
        end = cut
    return 0


def _read_text(fs: Any, path: str, display: str) -> str:
    return "".join(decode(b) for b in _read_blocks(fs, path, display))


def _meta_values(meta: pd.DataFrame) -> dict[str, list[str]]:
    import pandas as pd

    out: dict[str, list[str]] = {}
    for key, value in zip(meta["meta_key"], meta["meta_value"], strict=True):
        if key is not pd.NA and value is not pd.NA:
            out.setdefault(str(key), []).append(str(value))
    return out


def _test_db_release(meta: pd.DataFrame, sessions: pd.DataFrame, where: str) -> int:
    import pandas as pd

    releases = pd.to_numeric(sessions["new_release"], errors="coerce").dropna()
    if len(releases):
        return int(releases.max())
    schema_version = _meta_values(meta).get("schema_version")
    if not schema_version:
        raise SourceError(f"{where}: cannot tell the release (no mapping_session rows, no meta schema_version)")
    return int(schema_version[0])


def db_species_names(source: EnsemblSource, db: CoreDatabase) -> set[str]:
    """Every name the database's meta table gives its species (production name, aliases)."""
    values = _meta_values(source.read_table(db, "meta", ["meta_key", "meta_value"]))
    names = {db.species} if db.species else set()
    for key in ("species.production_name", "species.db_name", "species.alias", "species.scientific_name"):
        for v in values.get(key, []):
            names.add(v.strip().lower().replace(" ", "_"))
    return names


def _species_rows(metas: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """``production_name, meta_key, meta_value`` of the ``species.*`` keys of each (species, meta table)."""
    import pandas as pd

    parts = []
    for species, meta in metas:
        rows = meta[meta["meta_key"].astype("string").str.startswith("species.").fillna(False)]
        parts.append(rows.assign(production_name=species)[["production_name", "meta_key", "meta_value"]])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in ("production_name", "meta_key", "meta_value")})
    return pd.concat(parts, ignore_index=True).astype("string").dropna()


# ---------------------------------------------------------------------------------------------- MySQL


class MySQLSource:
    """Core databases on a live MySQL server (e.g. Ensembl's public server, user ``anonymous``).

    Databases are listed with ``SHOW DATABASES LIKE``; only the needed columns are selected and rows are
    streamed with a server-side cursor. Identifiers are validated against ``information_schema``; values are
    parameters. The password is never logged nor stored in ``url``.
    """

    def __init__(
        self,
        host: str,
        port: int = 3306,
        user: str = "anonymous",
        password: str | None = None,
        network: NetworkSettings | None = None,
        fetch_rows: int = 50_000,
    ) -> None:
        self.host, self.port, self.user = host, int(port), user
        self._password = password if password is not None else os.environ.get("IDTRACK_MYSQL_PASSWORD", "")
        self.network = network or NetworkSettings.from_env()
        self._fetch_rows = fetch_rows
        self.url = f"mysql://{user}@{host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MySQLSource:
        """Build from ``mysql://user[:password]@host[:port]``."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        if not parts.hostname:
            raise SourceError(f"{storage.redact(url)}: no host in MySQL URL")
        password = unquote(parts.password) if parts.password else options.pop("password", None)
        return cls(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username) if parts.username else "anonymous",
            password=password,
            **options,
        )

    def __repr__(self) -> str:
        return f"MySQLSource({self.url!r})"

    def _connect(self) -> Any:
        """One connection try, bounded by the connect and read timeouts (callers retry)."""
        import pymysql

        try:
            conn = pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self._password,
                connect_timeout=self.network.connect_timeout_s,
                read_timeout=self.network.read_timeout_s,
                write_timeout=self.network.read_timeout_s,
                charset="utf8mb4",
                use_unicode=False,
            )
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in _MYSQL_REFUSALS:  # definitive: retrying cannot help
                raise SourceError(f"{self.url}: {_text(exc.args[1]) if len(exc.args) > 1 else exc}") from None
            raise
        with conn.cursor() as cur:
            cur.execute("SET character_set_results = binary")
        return conn

    def _query(self, sql: str, params: Sequence[Any], what: str) -> list[tuple[Any, ...]]:
        def attempt() -> list[tuple[Any, ...]]:
            conn = self._connect()
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    return list(cur.fetchall())
            finally:
                conn.close()

        return network.retrying(attempt, f"{what} at {self.url}", self.network)

    def list_databases(self, species: str, assembly: str | None = None) -> list[CoreDatabase]:
        species = validate_species(species)
        pattern = species.replace("_", "\\_") + "\\_core\\_%"
        dbs = []
        for (raw,) in self._query("SHOW DATABASES LIKE %s", (pattern,), f"listing the {species} databases"):
            name = _text(raw)
            parsed = parse_core_db_name(name, species)
            if parsed and assembly_matches(parsed[1], assembly):
                dbs.append(CoreDatabase(species, parsed[0], parsed[1], name, name))
        return sorted(dbs)

    def list_all_databases(self) -> list[CoreDatabase]:
        dbs = []
        for (raw,) in self._query("SHOW DATABASES LIKE %s", ("%\\_core\\_%",), "listing the core databases"):
            name = _text(raw)
            parsed = parse_any_core_db_name(name)
            if parsed:
                dbs.append(CoreDatabase(parsed[0], parsed[1], parsed[2], name, name))
        return sorted(dbs)

    def species_meta(self) -> pd.DataFrame:
        newest = [db for db in newest_per_species(self.list_all_databases()) if _IDENT.match(db.location)]
        if not newest:
            return _species_rows([])
        sql = " UNION ALL ".join(
            f"SELECT %s, meta_key, meta_value FROM `{db.location}`.`meta` WHERE meta_key LIKE 'species.%%'"
            for db in newest
        )
        import pandas as pd

        rows = self._query(sql, [db.species for db in newest], "reading the species names")
        metas = pd.DataFrame([[_text(v) for v in r] for r in rows], columns=["species", "meta_key", "meta_value"])
        return _species_rows([(s, m) for s, m in metas.groupby("species", sort=True)])

    def table_schema(self, db: CoreDatabase, table: str) -> TableSchema | None:
        rows = self._query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (db.location, table),
            f"reading the columns of {db.location}.{table}",
        )
        if not rows:
            return None
        return TableSchema(table, tuple(Column(_text(n), column_kind(_text(t))) for n, t in rows))

    def fingerprint(self, db: CoreDatabase) -> str:
        rows = self._query(
            "SELECT table_name, table_rows, data_length, create_time, update_time FROM information_schema.tables "
            "WHERE table_schema = %s ORDER BY table_name",
            (db.location,),
            f"reading the table statistics of {db.location}",
        )
        return hashlib.sha256(repr([tuple(_text(v) for v in r) for r in rows]).encode()).hexdigest()

    def read_table(
        self, db: CoreDatabase, table: str, columns: Sequence[str], rows: RowFilter | None = None
    ) -> pd.DataFrame:
        schema = self.table_schema(db, table)
        if schema is None:
            raise MissingTableError(f"{self.url}/{db.location}: table {table!r} does not exist")
        wanted = [*columns, *([rows.column] if rows else [])]
        missing = [c for c in wanted if c not in schema.column_names]
        if missing:
            raise MissingTableError(f"{self.url}/{db.location}: table {table!r} has no column(s) {missing}")
        for ident in (db.location, table, *wanted):
            if not _IDENT.match(ident):
                raise SourceError(f"refusing unsafe SQL identifier {ident!r}")
        cols = ", ".join(f"`{c}`" for c in columns)
        sql, params = f"SELECT {cols} FROM `{db.location}`.`{table}`", list(rows.values) if rows else []
        if rows is not None and (rows.values or not rows.exclude):
            listed = ", ".join(["%s"] * len(rows.values)) or "NULL"
            sql += f" WHERE `{rows.column}` {'NOT IN' if rows.exclude else 'IN'} ({listed})"

        def attempt() -> pd.DataFrame:
            import pandas as pd
            import pymysql.cursors

            conn = self._connect()
            values: list[list[Any]] = [[] for _ in columns]
            try:
                with conn.cursor(pymysql.cursors.SSCursor) as cur:
                    cur.execute(sql, params or None)
                    while batch := cur.fetchmany(self._fetch_rows):
                        for row in batch:
                            for out, v in zip(values, row, strict=True):
                                out.append(v)
            finally:
                conn.close()
            typed = {c: _typed_values(v, schema.kind_of(c)) for c, v in zip(columns, values, strict=True)}
            frame = pd.DataFrame({c: t[0] for c, t in typed.items()}, columns=list(columns))
            frame.attrs["non_utf8_values"] = sum(t[1] for t in typed.values())
            return frame

        return network.retrying(attempt, f"reading {self.url}/{db.location}.{table}", self.network)

    def read_arrow(
        self, db: CoreDatabase, table: str, columns: Sequence[str], rows: RowFilter | None = None
    ) -> pa.Table:
        frame = self.read_table(db, table, columns, rows)
        schema = self.table_schema(db, table)
        assert schema is not None  # read_table raised otherwise
        out = frame_to_table(frame, schema, columns)
        return out.replace_schema_metadata({NON_UTF8_KEY: str(frame.attrs["non_utf8_values"]).encode()})


def _text(value: Any) -> str:
    return decode(value) if isinstance(value, bytes | bytearray) else str(value)


def _typed_values(values: list[Any], kind: str) -> tuple[pd.Series, int]:
    """A typed column, and how many of its values were not valid UTF-8 (decoded as Latin-1)."""
    import pandas as pd

    if kind == "str":
        texts, fallbacks = [], 0
        for v in values:
            if isinstance(v, bytes | bytearray):
                text, bad = decode_counted(bytes(v))
                texts.append(text)
                fallbacks += bool(bad)
            else:
                texts.append(None if v is None else str(v))
        return pd.Series(texts, dtype="string"), fallbacks
    numbers = [None if v is None or v == b"" or v == "" else _number(v) for v in values]
    return pd.Series(numbers, dtype="Int64" if kind == "int" else "Float64"), 0


def _number(value: Any) -> float | int:
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    if isinstance(value, Decimal | str):
        value = float(value)
    return value


__all__ = [
    "DumpSource",
    "EnsemblSource",
    "MySQLSource",
    "assembly_suffix",
    "databases_of",
    "db_species_names",
    "find_database",
    "latest_release",
    "open_source",
    "previous_database",
]
