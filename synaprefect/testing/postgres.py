"""``Postgres``: a throwaway PostgreSQL cluster on loopback, from Debian's ``postgresql``
package, for tests and benchmarks (the production recipe, the knowledge base's server
backend).

Example:
```python
server = Postgres()
url = await server.create_database("kb_test")  # postgresql://postgres@127.0.0.1:<port>/kb_test
server.stop()
```
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Postgres"]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Postgres:
    """A cluster of its own (trust authentication, no fsync) with a ``prefect`` database;
    ``url`` is its asyncpg SQLAlchemy URL."""

    def __init__(self):
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
        )
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            raise RuntimeError(
                "PostgreSQL is not installed: the PostgreSQL tests start their "
                "own cluster (apt-get install postgresql; .ci/run does)."
            )
        self.bin = Path(initdb).parent
        # initdb refuses to run as root: then the cluster belongs to the `postgres` user
        # (the package creates it), in a folder of its own outside pytest's private tmp.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.dir = Path(tempfile.mkdtemp(prefix="synaprefect-postgres-"))
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self.port = _free_port()
        data = self.dir / "data"
        self._run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self._run(
            "pg_ctl",
            "-D",
            data,
            "-l",
            self.dir / "postgres.log",
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        self._run("createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "prefect")
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/prefect"

    def _run(self, tool: str, *args: Any) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )

    @property
    def dsn(self) -> str:
        """The plain ``postgresql://`` URL of the ``prefect`` database."""
        return self.url.replace("postgresql+asyncpg", "postgresql")

    async def create_database(self, name: str) -> str:
        """A new empty database; returns its ``postgresql://`` URL."""
        import asyncpg

        connection = await asyncpg.connect(self.dsn)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.dsn.rsplit("/", 1)[0] + "/" + name

    async def count(self, table: str) -> int:
        import asyncpg

        connection = await asyncpg.connect(self.dsn)
        try:
            return await connection.fetchval(f"SELECT count(*) FROM {table}")
        finally:
            await connection.close()

    async def offers_extension(self, name: str) -> bool:
        """Whether ``CREATE EXTENSION <name>`` can work here (e.g. ``vector``: pgvector)."""
        import asyncpg

        connection = await asyncpg.connect(self.dsn)
        try:
            return bool(
                await connection.fetchval(
                    "SELECT count(*) FROM pg_available_extensions WHERE name = $1", name
                )
            )
        finally:
            await connection.close()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", self.dir / "data", "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
