"""A real transaction pooler for the tests: Debian's pgbouncer in transaction mode, in front of
the test database, the way Supabase's pooler on port 6543 is used.

Started on PGBOUNCER_PORT (default: a port free when it starts) with its own ini and auth file
(postgres/postgres) in a temporary directory, as the postgres OS user when run as root
(pgbouncer refuses to run as root). `make deps` installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

__all__ = ["pgbouncer"]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _unused_port() -> int:
    """A port nothing listens on now (a fixed default can be any process's ephemeral port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_UP = "LOG process up"  # logged once it listens


def _watch(process: subprocess.Popen[bytes]) -> tuple[threading.Event, list[str]]:
    """Reads pgbouncer's log lines (stderr) for as long as it runs, so the pipe never fills;
    the event is set once it logs _UP, or when it exits."""
    settled = threading.Event()
    output: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            output.append(line.decode(errors="replace"))
            if _UP in output[-1]:
                settled.set()
        settled.set()

    threading.Thread(target=read, name="pgbouncer-log", daemon=True).start()
    return settled, output


@contextlib.contextmanager
def pgbouncer(database_url: str) -> Iterator[str]:
    """pgbouncer (pool_mode = transaction) in front of `database_url`; yields its URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(binary).exists(), "pgbouncer is missing: run `make deps` (scripts/stack.sh deps)"
    target = conninfo_to_dict(database_url)
    port = int(os.environ.get("PGBOUNCER_PORT") or _unused_port())
    assert _free(port), f"port {port} is taken: set PGBOUNCER_PORT"
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="pgbouncer-") as directory:
        work = Path(directory)
        (work / "userlist.txt").write_text(
            f'"{target.get("user", "postgres")}" "{target.get("password", "")}"\n'
        )
        (work / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={target.get("host", "127.0.0.1")} port={target.get("port", 5432)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {work / "userlist.txt"}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = {work / "pgbouncer.log"}
pidfile = {work / "pgbouncer.pid"}
"""
        )
        command = [binary, str(work / "pgbouncer.ini")]
        if root:
            shutil.chown(work, "postgres")
            for name in ("userlist.txt", "pgbouncer.ini"):
                shutil.chown(work / name, "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        settled, output = _watch(process)
        try:
            if not settled.wait(10) or not any(_UP in line for line in output):
                raise AssertionError(f"pgbouncer did not start:\n{''.join(output)}")
            user, password = target.get("user", "postgres"), target.get("password", "")
            yield f"postgresql://{user}:{password}@127.0.0.1:{port}/{target.get('dbname', 'postgres')}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
