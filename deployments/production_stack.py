"""The production-shaped stack on one machine: every piece a platform team runs, as a separate
process with its own HOME and temp folder, sharing nothing but network services.

    PostgreSQL 15   Prefect's database (initdb in a temp folder; as root, run as `nobody`)
    Redis           Prefect's messaging broker, cache, lease storage and Docket (prefect-redis)
    moto (S3)       the lake, over HTTP, with conditional puts (s3://podium/lake)
    api-1..N        `prefect server start --no-services` on that database
    services        `prefect server services start`: scheduler, triggers, event persister...
    api-lb          a TCP balancer in front of the API servers (a Service / ALB)
    gateway-1..N    `podium gateway` replicas, and gateway-lb in front of them
    warm-1..N       warm executors (`deployments.warm_executor`) on podium-gpu/warm
    derived-1..N    warm counts and recommendations (`deployments.warm_derived`), a CPU
                    executor of their own
    worker-cpu      a process worker of podium-cpu (counts, recommendations, ingest...)

`podium up --topology production` starts it and keeps it up (a child that dies is started
again, as a Deployment would); tests and `bench/chaos.py` use `ProductionStack` directly. Every
child runs in its own process group, and a watchdog stops them all if this process dies.
docs/production.md maps each piece to what a platform team deploys.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from deployments import pg_template
from deployments.local_stack import (
    EXECUTOR_DERIVED_OFF,
    PROJECT_DIR,
    STACK_MARK,
    STOP_GRACE_S,
    WARM_POOL,
    WARM_QUEUE,
    WORK_POOLS,
    StackError,
    die_with_parent,
    free_port,
    refresher_command,
    stop_groups,
    warm_executor_env,
)
from podium.settings import Settings
from podium.telemetry import analytics_off

PG_BIN = Path(os.environ.get("PODIUM_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "nobody"  # PostgreSQL refuses to run as root
BUCKET = "podium"
S3_KEY = "podium-stack"  # moto accepts any key; real deployments take theirs from a secret
HOST = "127.0.0.1"
# initdb's options: part of the data-folder template's key.
INITDB_ARGS = ("-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
PG_TEMPLATES = PROJECT_DIR / "build" / "pg-template"


def _as_user(user: str | None) -> Callable[[], None]:
    """A preexec_fn: drop to `user` (when given), then ask to die with the parent (after the
    uid change: the kernel clears the parent-death signal on it).

    The parent-death signal fires when the forking *thread* ends, so a child started from
    another thread (a restart during chaos) does without it; the watchdog still stops it."""
    main = threading.current_thread() is threading.main_thread()

    def preexec() -> None:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.setgid(entry.pw_gid)
            os.setgroups([])
            os.setuid(entry.pw_uid)
        if main:
            die_with_parent()

    return preexec


@dataclass
class Child:
    """One long-lived process: how to start it again, and its current Popen."""

    name: str
    args: list[str]
    env: dict[str, str]
    user: str | None = None
    health: str | None = None  # URL answering 200 when ready
    process: subprocess.Popen | None = None
    restarts: int = 0


@dataclass
class ProductionStack:
    """Start with `up()`, stop with `down()`; `root` holds every process's home and log."""

    settings: Settings
    api_servers: int = 2
    gateways: int = 2
    executors: int = 2
    cpu_worker: bool = True
    # Warm counts-and-recommendations processes (`deployments.warm_derived`); 0 leaves the
    # refresh to the warm executors' own thread (`derived.warm`).
    refreshers: int = 1
    # Deployments of prefect.yaml to deploy; None deploys them all.
    deployments: tuple[str, ...] | None = None
    preload: bool = True  # warm executors load their models before serving
    say: Callable[[str], None] = print
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="podium-prod-")))
    children: dict[str, Child] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    _watchdog: subprocess.Popen | None = field(default=None, init=False, repr=False)
    # Inherited by every child and what it starts (see local_stack.STACK_MARK): a flow run a
    # worker starts in a session of its own is still stopped with the stack.
    mark: str = field(default_factory=lambda: os.environ.get(STACK_MARK) or uuid.uuid4().hex)
    _pg_dir: Path | None = field(default=None, init=False, repr=False)
    # Where migrated PostgreSQL data folders are cached (deployments/pg_template.py); None
    # runs initdb and the migrations at every start.
    pg_templates: Path | None = PG_TEMPLATES
    # Seconds per start phase (`up()`), and whether the data folder came from the cache.
    timings: dict[str, float] = field(default_factory=dict)
    pg_template_hit: bool | None = None
    _deployer: subprocess.Popen | None = field(default=None, init=False, repr=False)

    # -- addresses --------------------------------------------------------------------------

    def url(self, name: str, path: str = "") -> str:
        """The HTTP address of the port named `name` (`api-lb`, `gateway-1`, ...), plus `path`."""
        return f"http://{HOST}:{self.ports[name]}{path}"

    @property
    def api_url(self) -> str:
        """The API through the balancer: what every client uses."""
        return self.url("api-lb", "/api")

    @property
    def ui_url(self) -> str:
        return self.url("api-lb")

    @property
    def gateway_url(self) -> str:
        return self.url("gateway-lb")

    def gateway_urls(self) -> list[str]:
        return [self.url(f"gateway-{i}") for i in range(1, self.gateways + 1)]

    def api_urls(self) -> list[str]:
        return [self.url(f"api-{i}", "/api") for i in range(1, self.api_servers + 1)]

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.ports['postgres']}/prefect"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.ports['redis']}/0"

    @property
    def s3_endpoint(self) -> str:
        """The S3 endpoint every process uses: a proxy in front of moto, so that the endpoint
        can go away (chaos) while the data, in moto's memory, stays."""
        return self.url("s3")

    @property
    def lake_url(self) -> str:
        return f"s3://{BUCKET}/lake"

    def lake_settings(self) -> Settings:
        """Settings that reach this stack's lake and API (for a test or bench process)."""
        return self.settings.model_copy(
            update={
                "lake": self.settings.lake.model_copy(
                    update={
                        "url": self.lake_url,
                        "s3_endpoint_url": self.s3_endpoint,
                        "s3_access_key_id": SecretStr(S3_KEY),
                        "s3_secret_access_key": SecretStr(S3_KEY),
                    }
                ),
                "prefect": self.settings.prefect.model_copy(
                    update={"api_url": self.api_url, "ui_url": self.ui_url}
                ),
            }
        )

    # -- environments ----------------------------------------------------------------------

    def _dirs(self, name: str) -> tuple[Path, Path]:
        home, tmp = self.root / name / "home", self.root / name / "tmp"
        home.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        return home, tmp

    def base_env(self, name: str) -> dict[str, str]:
        """A process's own HOME and temp folder, and nothing of this process's state."""
        home, tmp = self._dirs(name)
        keep = ("PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "HOME": str(home),
                "TMPDIR": str(tmp),
                "XDG_CACHE_HOME": str(home / ".cache"),
                "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": str(PROJECT_DIR),
            }
        )
        if name != "watchdog":  # stopping the marked processes must not stop the watchdog
            env[STACK_MARK] = self.mark
        return dict(analytics_off(env))

    def prefect_server_env(self, name: str) -> dict[str, str]:
        """An API server's or the services' settings: PostgreSQL, Redis for everything shared."""
        env = self.base_env(name)
        redis = self.ports["redis"]
        env.update(
            {
                "PREFECT_HOME": str(self.root / name / "home" / ".prefect"),
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
                "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
                "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
                "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
                "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
                "PREFECT_REDIS_MESSAGING_HOST": HOST,
                "PREFECT_REDIS_MESSAGING_PORT": str(redis),
                "PREFECT_REDIS_MESSAGING_DB": "0",
                "PREFECT_SERVER_DOCKET_URL": f"redis://{HOST}:{redis}/1",
                "PREFECT_UI_ENABLED": "true",
                "PREFECT_UI_API_URL": self.api_url if "api-lb" in self.ports else "",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            }
        )
        return env

    def podium_env(self, name: str) -> dict[str, str]:
        """A Podium process's settings: the lake on S3, the API through its balancer."""
        env = self.base_env(name)
        home = self.root / name / "home"
        settings = self.settings
        env.update(
            {
                "PREFECT_HOME": str(home / ".prefect"),
                "PREFECT_API_URL": self.api_url,
                "PREFECT_UI_URL": self.ui_url,
                "PREFECT_LOGGING_LEVEL": "INFO",
                "PREFECT_WORKER_QUERY_SECONDS": "2",
                "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                "PODIUM_ENVIRONMENT": settings.environment,
                "PODIUM_HOME": str(home / "podium"),
                "PODIUM_LAKE__URL": self.lake_url,
                "PODIUM_LAKE__S3_ENDPOINT_URL": self.s3_endpoint,
                "PODIUM_LAKE__S3_ACCESS_KEY_ID": S3_KEY,
                "PODIUM_LAKE__S3_SECRET_ACCESS_KEY": S3_KEY,
                # How the lake's history is kept cheap on S3 (checkpoints, compaction).
                "PODIUM_LAKE__CHECKPOINT_INTERVAL": str(settings.lake.checkpoint_interval),
                "PODIUM_LAKE__COMPACT_AFTER_FILES": str(settings.lake.compact_after_files),
                "PODIUM_LAKE__REUSE_TABLES": str(settings.lake.reuse_tables).lower(),
                "PODIUM_LAKE__FILE_CACHE_MIB": str(settings.lake.file_cache_mib),
                "PODIUM_PREFECT__API_URL": self.api_url,
                "PODIUM_PREFECT__UI_URL": self.ui_url,
                "PODIUM_GATEWAY__SECRET": settings.gateway.secret.get_secret_value(),
                "PODIUM_PROJECT_DIR": str(PROJECT_DIR),
            }
        )
        if settings.review.push_secret is not None:
            env["PODIUM_REVIEW__PUSH_SECRET"] = settings.review.push_secret.get_secret_value()
        return env

    # -- processes -------------------------------------------------------------------------

    def _watch(self, pid: int) -> None:
        # A killed parent cannot stop its children: the watchdog sees its pipe close and stops
        # every group it was told about.
        if self._watchdog is None:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-m", "deployments.watchdog", str(STOP_GRACE_S), self.mark],
                stdin=subprocess.PIPE,
                cwd=PROJECT_DIR,
                env=self.base_env("watchdog"),
                start_new_session=True,
            )
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.write(f"{pid}\n".encode())
        self._watchdog.stdin.flush()

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def _popen(self, child: Child) -> subprocess.Popen:
        self.log_path(child.name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(child.name), "ab") as log:
            process = subprocess.Popen(
                child.args,
                env=child.env,
                cwd=self.root / child.name / "home" if child.user else PROJECT_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_as_user(child.user),
            )
        child.process = process
        self._watch(process.pid)
        return process

    def spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        *,
        health: str | None = None,
        user: str | None = None,
    ) -> Child:
        child = Child(name, args, env, user=user, health=health)
        self.children[name] = child
        self._popen(child)
        return child

    def run_once(self, name: str, args: list[str], env: dict[str, str], timeout: float) -> str:
        """A one-shot step (migrations, deploy); raises with its output's tail on failure."""
        result = subprocess.run(
            args, env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
        )
        self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
        self.log_path(name).write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise StackError(f"{name} failed: {' | '.join(tail)}")
        return result.stdout

    def wait_ready(self, names: list[str], timeout_s: float = 180) -> None:
        """Wait until each named child answers its health URL (or, without one, is up)."""
        deadline = time.monotonic() + timeout_s
        pending = list(names)
        while pending:
            for name in list(pending):
                child = self.children[name]
                assert child.process is not None
                if child.process.poll() is not None:
                    raise StackError(f"{name} exited; see {self.log_path(name)}")
                if child.health is None or _answers(child.health):
                    pending.remove(name)
            if pending:
                if time.monotonic() > deadline:
                    raise StackError(f"not ready after {timeout_s:.0f} s: {', '.join(pending)}")
                time.sleep(0.3)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a child's whole process group (chaos: kill -9 by default) and reap it."""
        child = self.children[name]
        assert child.process is not None
        try:
            os.killpg(child.process.pid, sig)
        except ProcessLookupError:
            pass
        child.process.wait()

    def restart(self, name: str, *, wait: bool = True, timeout_s: float = 180) -> None:
        """Start a stopped child again, same command, ports and folders (what a Deployment's
        restart does)."""
        child = self.children[name]
        if child.process is not None and child.process.poll() is None:
            self.kill(name, signal.SIGTERM)
        child.restarts += 1
        self._popen(child)
        if wait:
            self.wait_ready([name], timeout_s)

    def supervise(self) -> list[str]:
        """Start again every child that died (kill -9, crash); returns their names."""
        restarted = []
        for name, child in self.children.items():
            if child.process is not None and child.process.poll() is not None:
                self.say(f"{name} exited ({child.process.returncode}); starting it again")
                self.restart(name, wait=False)
                restarted.append(name)
        return restarted

    def pids(self) -> list[int]:
        return [c.process.pid for c in self.children.values() if c.process is not None]

    # -- the pieces ------------------------------------------------------------------------

    def start_data(self) -> None:
        """PostgreSQL, Redis and the S3 endpoint, started together; returns once PostgreSQL and
        Redis answer (moto may still be starting: `wait_s3`)."""
        for name in ("postgres", "redis", "moto", "s3", "api-lb", "gateway-lb"):
            self.ports[name] = free_port()
        for i in range(1, self.api_servers + 1):
            self.ports[f"api-{i}"] = free_port()
        for i in range(1, self.gateways + 1):
            self.ports[f"gateway-{i}"] = free_port()
        for i in range(1, self.refreshers + 1):
            self.ports[f"derived-{i}"] = free_port()
        redis_dir, _ = self._dirs("redis")
        self.spawn(
            "redis",
            ["redis-server", "--bind", HOST, "--port", str(self.ports["redis"]),
             "--dir", str(redis_dir), "--save", "", "--appendonly", "yes",
             "--appendfsync", "everysec", "--protected-mode", "no"],
            self.base_env("redis"),
        )  # fmt: skip
        self.spawn(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.ports["moto"])],
            self.base_env("moto"),
            health=self.url("moto", "/moto-api/"),
        )
        self._balancer("s3", [self.ports["moto"]])
        self.children["s3"].health = self.s3_endpoint + "/moto-api/"
        self._start_postgres()  # moto imports meanwhile
        self._wait_postgres()
        self._wait_redis()
        self.say(f"PostgreSQL on :{self.ports['postgres']}, Redis on :{self.ports['redis']}")

    def wait_s3(self) -> None:
        """Wait for moto (and its proxy), then create the lake's bucket."""
        self.wait_ready(["moto", "s3"], 120)
        self._create_bucket()
        self.say(f"S3 (moto) on {self.s3_endpoint}")

    def _pg_user(self) -> str | None:
        return PG_USER if os.geteuid() == 0 else None

    def _pg_folder(self) -> Path:
        """A temp folder outside `root`, owned by the database's user (a test's tmp_path is not
        reachable by `nobody`)."""
        folder = Path(tempfile.mkdtemp(prefix="podium-pg-"))
        user = self._pg_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        return folder

    def _pg_env(self, folder: Path) -> dict[str, str]:
        env = self.base_env("postgres")
        env["HOME"] = env["TMPDIR"] = str(folder)
        return env

    def _initdb(self, data: Path, env: dict[str, str]) -> None:
        initdb = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(data), *INITDB_ARGS],
            env=env, capture_output=True, text=True, preexec_fn=_as_user(self._pg_user()),
            timeout=120,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise StackError(f"initdb failed: {initdb.stderr.strip()[-300:]}")

    def _postgres_args(self, data: Path, folder: Path, port: int) -> list[str]:
        return [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
                "-c", f"listen_addresses={HOST}", "-c", "max_connections=300",
                "-c", "shared_buffers=64MB"]  # fmt: skip

    def pg_template_key(self) -> tuple[str, dict[str, str]]:
        """What a migrated data folder depends on, and the cache key made of it."""
        import importlib.metadata
        import importlib.util

        version = subprocess.run(
            [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.split()
        spec = importlib.util.find_spec("prefect")
        assert spec is not None and spec.origin is not None
        parts = {
            "prefect": importlib.metadata.version("prefect"),
            "migrations": pg_template.migrations_digest(Path(spec.origin).parent),
            "sqlalchemy": importlib.metadata.version("sqlalchemy"),
            # `postgres (PostgreSQL) 15.18 (Debian ...)`: the first number is the version.
            "postgres": "pg" + next(w for w in version if w[:1].isdigit()).split(".")[0],
            "initdb": " ".join(INITDB_ARGS),
            "database": "prefect",
            "owner": self._pg_user() or pwd.getpwuid(os.geteuid()).pw_name,
        }
        return pg_template.template_key(parts), parts

    def _build_pg_template(self, dest: Path) -> None:
        """initdb, the `prefect` database and Prefect's migrations in a temp folder, a clean
        shutdown, then the data folder copied to `dest` (a folder of the cache)."""
        folder = self._pg_folder()
        try:
            data, env = folder / "data", self._pg_env(folder)
            self._initdb(data, env)
            port = free_port()
            postgres = subprocess.Popen(
                self._postgres_args(data, folder, port),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_as_user(self._pg_user()),
            )
            try:
                self._wait_postgres(port=port, process=postgres)
                migrate_env = self.prefect_server_env("migrate")
                migrate_env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
                    f"postgresql+asyncpg://postgres@{HOST}:{port}/prefect"
                )
                self.run_once(
                    "migrate",
                    [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                    migrate_env,
                    timeout=300,
                )
            finally:
                postgres.send_signal(signal.SIGINT)  # fast shutdown: a clean checkpoint
                code = postgres.wait(timeout=120)
            if code != 0 or (data / "postmaster.pid").exists():
                raise StackError(f"the template's PostgreSQL did not shut down cleanly ({code})")
            pg_template.copy_data(folder, dest)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _start_postgres(self) -> None:
        """A data folder (a copy of the cached, migrated template, or a fresh initdb), then
        PostgreSQL on it."""
        self._pg_dir = self._pg_folder()
        data, env = self._pg_dir / "data", self._pg_env(self._pg_dir)
        started = time.monotonic()
        template = None
        if self.pg_templates is not None:
            key, parts = self.pg_template_key()
            try:
                template, self.pg_template_hit = pg_template.ensure(
                    self.pg_templates, key, parts, self._build_pg_template
                )
            except OSError as error:  # a read-only checkout: initdb and migrations, as before
                self.say(f"no PostgreSQL template ({error}); initdb and migrations instead")
        if template is not None:
            pg_template.copy_data(template, data)
            self.say(
                f"PostgreSQL data folder copied from {template.name} "
                f"({'cached' if self.pg_template_hit else 'built now'})"
            )
        else:
            self._initdb(data, env)
        self.timings["postgres data folder"] = time.monotonic() - started
        self.spawn(
            "postgres",
            self._postgres_args(data, self._pg_dir, self.ports["postgres"]),
            env,
            user=self._pg_user(),
        )

    def _wait_postgres(
        self,
        timeout_s: float = 60,
        *,
        port: int | None = None,
        process: subprocess.Popen | None = None,
    ) -> None:
        """Wait until PostgreSQL (the stack's, or the one on `port`) answers, then create the
        `prefect` database unless it exists."""
        deadline = time.monotonic() + timeout_s
        if port is None:
            port, process = self.ports["postgres"], self.children["postgres"].process
        while True:
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", HOST, "-p", str(port), "-U", "postgres"],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            if (process is not None and process.poll() is not None) or (
                time.monotonic() > deadline
            ):
                raise StackError(f"PostgreSQL did not start; see {self.log_path('postgres')}")
            time.sleep(0.2)
        port_s = str(port)
        exists = subprocess.run(
            [str(PG_BIN / "psql"), "-h", HOST, "-p", port_s, "-U", "postgres", "-tAc",
             "SELECT 1 FROM pg_database WHERE datname = 'prefect'"],
            capture_output=True, text=True,
        )  # fmt: skip
        if exists.stdout.strip() != "1":
            self.run_once(
                "createdb",
                [str(PG_BIN / "createdb"), "-h", HOST, "-p", port_s, "-U", "postgres", "prefect"],
                self.base_env("createdb"),
                timeout=60,
            )

    def _wait_redis(self, timeout_s: float = 30) -> None:
        import redis

        deadline = time.monotonic() + timeout_s
        client = redis.Redis(host=HOST, port=self.ports["redis"])
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise StackError(f"Redis did not start; see {self.log_path('redis')}") from None
                time.sleep(0.1)

    def _create_bucket(self) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_KEY,
            region_name=self.settings.lake.s3_region,
        ).create_bucket(Bucket=BUCKET)

    def start_prefect(self, *, wait: bool = True) -> None:
        """Migrations once (unless the data folder is a migrated template), then the API
        servers, the services and the API's balancer."""
        prefect = [sys.executable, "-m", "prefect"]
        if self.pg_template_hit is None:  # a fresh initdb, not a migrated template
            started = time.monotonic()
            self.run_once(
                "migrate",
                [*prefect, "server", "database", "upgrade", "-y"],
                self.prefect_server_env("migrate"),
                timeout=300,
            )
            self.timings["migrations"] = time.monotonic() - started
        self._balancer("api-lb", [self.ports[f"api-{i}"] for i in range(1, self.api_servers + 1)])
        for i in range(1, self.api_servers + 1):
            name, port = f"api-{i}", self.ports[f"api-{i}"]
            env = self.prefect_server_env(name)
            # Block types are registered by one replica: two registering at once collide on
            # the block types' unique slugs (IntegrityError) and the loser exits.
            env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = "true" if i == 1 else "false"
            self.spawn(
                name,
                [*prefect, "server", "start", "--host", HOST, "--port", str(port),
                 "--no-services"],
                env,
                health=self.url(name, "/api/health"),
            )  # fmt: skip
        self.spawn("services", [*prefect, "server", "services", "start"],
                   self.prefect_server_env("services"))  # fmt: skip
        if wait:
            self.wait_prefect()

    def wait_prefect(self) -> None:
        self.wait_ready([f"api-{i}" for i in range(1, self.api_servers + 1)], 300)
        self.say(f"Prefect: {self.api_servers} API servers behind {self.ui_url}, services apart")

    def _balancer(self, name: str, backends: list[int]) -> None:
        self.spawn(
            name,
            [sys.executable, "-m", "deployments.tcp_balancer", str(self.ports[name]),
             *map(str, backends)],
            self.base_env(name),
        )  # fmt: skip

    def start_deploy(self) -> None:
        """Start `prefect deploy` now, so that its imports (Prefect's CLI, the flows') overlap
        the API servers' start; `deploy()` tells it to go (deployments/deploy_when_told.py)."""
        import yaml

        spec = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
        entrypoints = {
            d["entrypoint"].split(":")[0].removesuffix(".py").replace("/", ".")
            for d in spec.get("deployments", [])
            if self.deployments is None or d["name"] in self.deployments
        }
        names = [a for name in self.deployments or () for a in ("--name", name)]
        args = [sys.executable, "-m", "deployments.deploy_when_told",
                *(a for module in sorted(entrypoints) for a in ("--preload", module)), "--",
                "--no-prompt", "deploy", *(names or ["--all"]),
                "--prefect-file", str(PROJECT_DIR / "prefect.yaml")]  # fmt: skip
        self.log_path("deploy").parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path("deploy"), "wb") as log:
            self._deployer = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_DIR,
                env=self.podium_env("deploy"),
                start_new_session=True,
                preexec_fn=_as_user(None),
            )
        self._watch(self._deployer.pid)

    def deploy(self) -> None:
        """The work pools (through the API: no CLI start-up per pool), then prefect.yaml."""
        for pool in WORK_POOLS:
            response = httpx.post(
                f"{self.api_url}/work_pools/", json={"name": pool, "type": "process"}, timeout=60
            )
            if response.status_code not in (201, 409):  # 409: it exists already
                raise StackError(f"work pool {pool}: HTTP {response.status_code}")
        if self._deployer is None:
            self.start_deploy()
        deployer, self._deployer = self._deployer, None
        assert deployer is not None and deployer.stdin is not None
        try:
            deployer.stdin.write(b"go\n")
            deployer.stdin.close()
            code = deployer.wait(timeout=300)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            _stop_group(deployer)
            code = deployer.returncode
        if code != 0:
            tail = self.log_path("deploy").read_text(errors="replace").strip().splitlines()[-5:]
            raise StackError(f"deploy failed ({code}): {' | '.join(tail)}")
        self.say("work pools and deployments of prefect.yaml created")

    def start_podium(self, *, wait: bool = True) -> None:
        """Gateways (and their balancer), warm executors, the CPU worker. Each retries the API
        until it answers, so they start with the API servers, not after them."""
        for i in range(1, self.gateways + 1):
            name, port = f"gateway-{i}", self.ports[f"gateway-{i}"]
            env = self.podium_env(name)
            env.update({"PODIUM_GATEWAY__HOST": HOST, "PODIUM_GATEWAY__PORT": str(port)})
            env["PODIUM_GATEWAY__INBOX"] = "true"  # docs/production.md, "Gateway throughput"
            self.spawn(name, [sys.executable, "-m", "podium", "gateway"], env,
                       health=self.url(name, "/healthz"))  # fmt: skip
        self._balancer(
            "gateway-lb", [self.ports[f"gateway-{i}"] for i in range(1, self.gateways + 1)]
        )
        for i in range(1, self.executors + 1):
            name = f"warm-{i}"
            env = {**self.podium_env(name), **warm_executor_env(self.settings)}
            if self.refreshers:  # counts and recommendations have processes of their own
                env.update(EXECUTOR_DERIVED_OFF)
            # Events wake the executors; the ledger check is the safety net for a missed one.
            # On S3 each check replays two Delta logs (a GET per commit since the last
            # checkpoint), so it runs every 10 s here rather than the local default of 3 s.
            env.setdefault("PODIUM_ENRICH__WARM_LEDGER_CHECK_S", "10")
            args = [sys.executable, "-m", "deployments.warm_executor", "--pool", WARM_POOL,
                    "--queue", WARM_QUEUE]  # fmt: skip
            self.spawn(name, args + ([] if self.preload else ["--no-preload"]), env)
        for i in range(1, self.refreshers + 1):
            name = f"derived-{i}"
            self.spawn(name, refresher_command(self.ports[name]), self.podium_env(name),
                       health=self.url(name, "/healthz"))  # fmt: skip
        if self.cpu_worker:
            self.spawn(
                "worker-cpu",
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOLS[0],
                 "--type", "process", "--name", "worker-cpu"],
                self.podium_env("worker-cpu"),
            )  # fmt: skip
        if wait:
            self.wait_podium()

    def wait_podium(self) -> None:
        self.wait_ready([f"gateway-{i}" for i in range(1, self.gateways + 1)], 180)
        self.say(
            f"{self.gateways} gateways behind {self.gateway_url}, {self.executors} warm "
            f"executors{', the CPU worker' if self.cpu_worker else ''}"
        )

    def up(self) -> None:
        """Start everything; on any failure stop what was started and raise. Once the database
        is migrated every long-lived process starts at once (each retries what it needs); the
        lake's bucket is made while the API servers start. `timings` gets each phase."""
        started = time.monotonic()

        def phase(name: str, step: Callable[[], None]) -> None:
            begin = time.monotonic()
            step()
            self.timings[name] = time.monotonic() - begin

        try:
            phase("data services", self.start_data)
            phase("spawn prefect", lambda: self.start_prefect(wait=False))
            phase("spawn deploy", self.start_deploy)
            phase("s3 ready", self.wait_s3)
            phase("spawn podium", lambda: self.start_podium(wait=False))
            phase("api servers ready", self.wait_prefect)
            phase("deploy", self.deploy)
            phase("gateways ready", self.wait_podium)
        except BaseException:
            self.down()
            raise
        self.timings["start"] = time.monotonic() - started
        self.say(
            "started in "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items())
        )

    def check(self) -> None:
        """For `podium up`: what died is started again, as an orchestrator would."""
        self.supervise()

    def down(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop every child (SIGTERM to its group, SIGKILL after `grace_s`), then the watchdog,
        then remove the database's folder."""
        if self._deployer is not None:  # up() failed before it was told to go
            _stop_group(self._deployer)
            self._deployer = None
        stop_groups(self.pids(), grace_s=grace_s, mark=self.mark)
        for child in self.children.values():
            if child.process is not None:
                child.process.wait()
        if self._watchdog is not None:
            self._watchdog.stdin.close()  # type: ignore[union-attr]  # EOF: it exits
            self._watchdog.wait(timeout=grace_s + 30)  # it scans for marked processes too
            self._watchdog = None
        if self._pg_dir is not None:
            shutil.rmtree(self._pg_dir, ignore_errors=True)
            self._pg_dir = None


def _stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
