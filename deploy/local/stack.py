"""The local stack without Docker: a real Apache Kafka broker (KRaft, one node, jars from Maven
Central), a throwaway PostgreSQL cluster (Debian's postgresql) and a Prometheus (Debian's
prometheus) that scrapes the services with the project's alert rules, all on 127.0.0.1.

    python deploy/local/stack.py start    # idempotent: reports "already up" when it is
    python deploy/local/stack.py status
    python deploy/local/stack.py stop     # stops what it started, by PID
    python deploy/local/stack.py env      # prints the variables for other programs

State lives in `.state/` (git-ignored); the broker's jars in ~/.cache/customer-platform/.
When KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL or PROMETHEUS_URL is set, that server is used and
nothing is started for it. Prometheus finds what to scrape in `.state/prometheus/targets/*.json`
(file_sd): whoever starts services writes their ports there (run_platform.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pidfiles import pid_alive, port_open, terminate  # siblings: this runs as a script
from prometheus_local import (
    prometheus_pid,
    prometheus_targets_dir,
    prometheus_url,
    reload_prometheus,
    start_prometheus,
    stop_prometheus,
)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("STACK_STATE_DIR", ROOT / ".state"))
KAFKA_VERSION = "4.3.1"  # same tag as docker-compose.yml
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "customer-platform"
KAFKA_LIBS = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
PG_BIN_CANDIDATES = (
    [Path(os.environ["STACK_PG_BIN"])]
    if os.environ.get("STACK_PG_BIN")
    else sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
)

BROKER_PORT = int(os.environ.get("STACK_KAFKA_PORT", "19092"))
CONTROLLER_PORT = int(os.environ.get("STACK_KAFKA_CONTROLLER_PORT", "19093"))
PG_PORT = int(os.environ.get("STACK_PG_PORT", "15432"))
PG_DATABASE = "platform"


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


# --- what must be installed -----------------------------------------------------------------------


def _java_major() -> int | None:
    java = shutil.which("java")
    if not java:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def jre_package() -> str:
    """A Debian JRE >= 17 that this machine's apt can install (Debian 13 dropped openjdk-17)."""
    for version in (17, 21, 25):
        name = f"openjdk-{version}-jre-headless"
        with contextlib.suppress(OSError):
            policy = subprocess.run(
                ["apt-cache", "policy", name], capture_output=True, text=True
            ).stdout
            if re.search(r"Candidate: (?!\(none\))\S", policy):
                return name
    return "default-jre-headless"  # 17 on Debian 12, 21 on Debian 13


def missing_packages(
    need_kafka: bool, need_postgres: bool, need_prometheus: bool = False
) -> list[str]:
    missing = []
    if need_kafka:
        if (_java_major() or 0) < 17:
            missing.append(jre_package())
        if not (KAFKA_LIBS / f"kafka_2.13-{KAFKA_VERSION}.jar").exists() and not shutil.which(
            "mvn"
        ):
            missing.append("maven")
    if need_postgres and not all(_find_pg_bin(n) for n in ("initdb", "pg_ctl", "psql")):
        missing.append("postgresql")
    if need_prometheus and not shutil.which("prometheus"):
        missing.append("prometheus")
    return missing


def require_packages(need_kafka: bool, need_postgres: bool, need_prometheus: bool = False) -> None:
    missing = missing_packages(need_kafka, need_postgres, need_prometheus)
    if missing:
        sudo = "" if os.geteuid() == 0 else "sudo "
        log(f"missing: {' '.join(missing)}")
        log(
            f"install them with: {sudo}apt-get install -y --no-install-recommends {' '.join(missing)}"
        )
        log("(or run ./dev stack start as root, which installs them)")
        sys.exit(1)


def _find_pg_bin(name: str) -> str | None:
    for directory in PG_BIN_CANDIDATES:
        if (directory / name).exists():
            return str(directory / name)
    return None if os.environ.get("STACK_PG_BIN") else shutil.which(name)


def _pg_bin(name: str) -> str:
    found = _find_pg_bin(name)
    if not found:
        require_packages(need_kafka=False, need_postgres=True)
        sys.exit(f"PostgreSQL's {name} not found")
    return found


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """The server refuses to run as root, so root runs it as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _pg_dir() -> Path:
    """`.state/pg`, or, when root's checkout is not reachable by `postgres`, a symlink to a
    folder it can reach (a checkout under /root is mode 700)."""
    link = STATE / "pg"
    if os.geteuid() != 0:
        return link
    if link.is_symlink() or link.exists():
        return link.resolve()
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(STATE)])
    if probe.returncode == 0:
        link.mkdir(parents=True)
        shutil.chown(link, "postgres", "postgres")
        return link
    digest = hashlib.sha1(str(STATE).encode()).hexdigest()[:10]  # one per state folder
    target = Path("/var/tmp") / f"customer-platform-{digest}" / "pg"
    target.mkdir(parents=True, exist_ok=True)
    shutil.chown(target, "postgres", "postgres")
    shutil.chown(target.parent, "postgres", "postgres")
    link.symlink_to(target)
    return target


# --- PostgreSQL -----------------------------------------------------------------------------------


def database_url() -> str:
    return (
        os.environ.get("DATABASE_URL") or f"postgresql://postgres@127.0.0.1:{PG_PORT}/{PG_DATABASE}"
    )


def pg_running() -> bool:
    if os.environ.get("DATABASE_URL"):
        return True
    data = _pg_dir() / "data"
    return pid_alive(data / "postmaster.pid", expect=str(data)) is not None


def start_postgres() -> None:
    if os.environ.get("DATABASE_URL"):
        log("PostgreSQL: using DATABASE_URL, starting nothing")
        return
    pg = _pg_dir()
    data = pg / "data"
    if pg_running():
        log(f"PostgreSQL already up on 127.0.0.1:{PG_PORT}")
        return
    if port_open(PG_PORT):
        sys.exit(f"port {PG_PORT} is taken by another program; set STACK_PG_PORT")
    if not (data / "PG_VERSION").exists():
        pg.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(pg, "postgres", "postgres")
        log("PostgreSQL: initdb")
        subprocess.run(
            _as_postgres_user(
                [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    options = (
        f"-p {PG_PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        "-c max_connections=200 -c shared_buffers=256MB -c fsync=on "
        "-c synchronous_commit=on -c max_wal_size=2GB "
        # Each row's commit time, for benchmarks that measure lag without polling the tables.
        "-c track_commit_timestamp=on"
    )
    log("PostgreSQL: starting")
    subprocess.run(
        _as_postgres_user(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(pg / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _wait_postgres()


def _wait_postgres(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    psql = shutil.which("psql") or _pg_bin("psql")
    base = ["-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-tAc"]
    while True:
        ok = subprocess.run([psql, *base, "SELECT 1", "postgres"], capture_output=True)
        if ok.returncode == 0:
            break
        if time.monotonic() > deadline:
            sys.exit(f"PostgreSQL not ready: {ok.stderr.decode()}")
        time.sleep(0.2)
    exists = subprocess.run(
        [psql, *base, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'", "postgres"],
        capture_output=True,
        text=True,
    )
    if exists.stdout.strip() != "1":
        subprocess.run(
            [psql, *base, f"CREATE DATABASE {PG_DATABASE}", "postgres"],
            check=True,
            capture_output=True,
        )
    log(f"PostgreSQL ready: {database_url()}")


def stop_postgres() -> None:
    if os.environ.get("DATABASE_URL") or not pg_running():
        return
    log("PostgreSQL: stopping")
    subprocess.run(
        _as_postgres_user(
            [_pg_bin("pg_ctl"), "-D", str(_pg_dir() / "data"), "-m", "fast", "-w", "stop"]
        ),
        check=False,
        stdout=subprocess.DEVNULL,
    )


# --- Kafka ----------------------------------------------------------------------------------------


def bootstrap_servers() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{BROKER_PORT}"


def fetch_kafka_jars() -> None:
    marker = KAFKA_LIBS / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if marker.exists():
        return
    log(f"Kafka {KAFKA_VERSION}: resolving the broker's jars from Maven Central (once)")
    tmp = KAFKA_LIBS.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(HERE / "kafka" / "pom.xml"),
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"could not fetch Kafka's jars with Maven:\n{result.stdout}\n{result.stderr}")
    shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
    tmp.rename(KAFKA_LIBS)


def _kafka_dir() -> Path:
    return STATE / "kafka"


def kafka_pid() -> int | None:
    return pid_alive(_kafka_dir() / "kafka.pid", expect=str(_kafka_dir() / "server.properties"))


def start_kafka() -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        log("Kafka: using KAFKA_BOOTSTRAP_SERVERS, starting nothing")
        return
    if kafka_pid():
        log(f"Kafka already up on {bootstrap_servers()}")
        return
    for port in (BROKER_PORT, CONTROLLER_PORT):
        if port_open(port):
            sys.exit(f"port {port} is taken by another program; set STACK_KAFKA_PORT")
    fetch_kafka_jars()
    directory = _kafka_dir()
    directory.mkdir(parents=True, exist_ok=True)
    properties = (HERE / "kafka" / "server.properties.tmpl").read_text()
    for name, value in {
        "BROKER_PORT": BROKER_PORT,
        "CONTROLLER_PORT": CONTROLLER_PORT,
        "DATA_DIR": directory,
    }.items():
        properties = properties.replace("${" + name + "}", str(value))
    config = directory / "server.properties"
    config.write_text(properties)
    cluster_id_file = directory / "cluster.id"
    if not cluster_id_file.exists():
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        cluster_id_file.write_text(cluster_id)
    classpath = f"{KAFKA_LIBS}/*"
    logging_flag = f"-Dlog4j2.configurationFile={HERE / 'kafka' / 'log4j2.properties'}"
    subprocess.run(
        [
            "java",
            "-Xmx256m",
            "-cp",
            classpath,
            logging_flag,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id_file.read_text().strip(),
            "-c",
            str(config),
            "--ignore-formatted",
        ],
        check=True,
        capture_output=True,
    )
    heap = os.environ.get("STACK_KAFKA_HEAP", "512m")
    log(f"Kafka {KAFKA_VERSION}: starting on {bootstrap_servers()}")
    with open(directory / "server.log", "ab") as server_log:
        process = subprocess.Popen(
            [
                "java",
                f"-Xms{heap}",
                f"-Xmx{heap}",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={directory}",
                logging_flag,
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal must not kill it behind our back
        )
    (directory / "kafka.pid").write_text(str(process.pid))
    asyncio.run(_wait_kafka(process))


async def _wait_kafka(process: subprocess.Popen[bytes] | None, timeout: float = 90) -> None:
    """Ready means the broker answers metadata and a probe topic gets a leader."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while booting

    started = time.monotonic()
    probe = "__stack_ready_probe"
    while True:
        if process is not None and process.poll() is not None:
            tail = (_kafka_dir() / "server.log").read_text()[-3000:]
            sys.exit(f"Kafka exited with {process.returncode}:\n{tail}")
        try:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap_servers(), request_timeout_ms=3000
            )
            await admin.start()
            try:
                cluster = await admin.describe_cluster()
                if cluster["brokers"]:
                    if probe not in await admin.list_topics():
                        await admin.create_topics([NewTopic(probe, 1, 1)])
                    described = (await admin.describe_topics([probe]))[0]
                    if (
                        described["error_code"] == 0
                        and described["partitions"]
                        and described["partitions"][0]["leader"] >= 0
                    ):
                        log(f"Kafka ready in {time.monotonic() - started:.1f}s")
                        return
            finally:
                await admin.close()
        except Exception:
            pass
        if time.monotonic() - started > timeout:
            sys.exit("Kafka not ready in time; see .state/kafka/server.log")
        await asyncio.sleep(0.3)


def stop_kafka() -> None:
    pid = kafka_pid()
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or not pid:
        return
    log("Kafka: stopping")
    if terminate(pid, kafka_pid):
        log("Kafka: did not stop in 30 s; SIGKILL")
    (_kafka_dir() / "kafka.pid").unlink(missing_ok=True)


# --- commands -------------------------------------------------------------------------------------


def write_env() -> Path:
    env_file = STATE / "stack.env"
    env_file.write_text(
        f"KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers()}\nDATABASE_URL={database_url()}\n"
        f"PROMETHEUS_URL={prometheus_url()}\nPROMETHEUS_TARGETS_DIR={prometheus_targets_dir()}\n"
    )
    return env_file


def is_up() -> bool:
    kafka_up = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) or kafka_pid() is not None
    prometheus_up = bool(os.environ.get("PROMETHEUS_URL")) or prometheus_pid() is not None
    return kafka_up and pg_running() and prometheus_up


def start() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    if is_up():
        log("stack already up; started nothing")
        reload_prometheus()  # the alert rules may have been edited since
    else:
        require_packages(
            need_kafka=not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and kafka_pid() is None,
            need_postgres=not pg_running(),
            need_prometheus=not os.environ.get("PROMETHEUS_URL") and prometheus_pid() is None,
        )
        start_postgres()
        start_kafka()
        start_prometheus()
    log(f"env written to {write_env()}")


def stop() -> None:
    stop_prometheus()
    stop_kafka()
    stop_postgres()
    log("stack stopped")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["start", "stop", "status", "env", "wait"])
    args = parser.parse_args()
    if args.command == "start":
        start()
    elif args.command == "stop":
        stop()
    elif args.command == "status":
        up = is_up()
        print(
            f"kafka: {'up' if kafka_pid() or os.environ.get('KAFKA_BOOTSTRAP_SERVERS') else 'down'}"
            f" ({bootstrap_servers()})"
        )
        print(f"postgres: {'up' if pg_running() else 'down'} ({database_url()})")
        prometheus_up = prometheus_pid() or os.environ.get("PROMETHEUS_URL")
        print(f"prometheus: {'up' if prometheus_up else 'down'} ({prometheus_url()})")
        sys.exit(0 if up else 1)
    elif args.command == "env":
        print(f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers()}")
        print(f"export DATABASE_URL={database_url()}")
        print(f"export PROMETHEUS_URL={prometheus_url()}")
    elif args.command == "wait":
        asyncio.run(_wait_kafka(None))


if __name__ == "__main__":
    main()
