"""The whole platform as `./dev up` runs it (deploy/local/run_platform.py, ops console included),
a real Prometheus scraping it every second, and headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium) on the console.

Everything runs on the tests' own Kafka and PostgreSQL (the `stack_env` fixture) and on free
ports, so a developer's `./dev up` can run beside it. Screenshots go to .state/screenshots/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from platform_kit.auth import create_token, migrate_auth
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".state" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DEMO_REALM = "9130350000000001"  # the company run_platform.py connects for tenant demo


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def need(path: str, package: str) -> str:
    found = shutil.which(path) or (path if os.access(path, os.X_OK) else None)
    if not found:  # a failure, not a skip: ./dev installs these
        raise AssertionError(f"{path} is missing: apt-get install -y {package} (./dev does this)")
    return found


@dataclass
class Platform:
    customer: str
    billing: str
    qb_sync: str
    emulator: str
    console: str
    prometheus: str
    bootstrap: str
    database_url: str
    admin_token: str
    read_token: str

    def client(self, base: str) -> httpx.Client:
        return httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30
        )


@pytest.fixture(scope="module")
def platform(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    ports = {
        name: free_port()
        for name in ("customer", "billing", "qb_sync", "emulator", "console", "prometheus")
    }
    work = tmp_path_factory.mktemp("e2e")
    prometheus = start_prometheus(work, ports)
    env = {
        **os.environ,
        **stack_env,
        "CUSTOMER_PORT": str(ports["customer"]),
        "BILLING_PORT": str(ports["billing"]),
        "QB_SYNC_PORT": str(ports["qb_sync"]),
        "QBO_EMULATOR_PORT": str(ports["emulator"]),
        "OPS_CONSOLE_PORT": str(ports["console"]),
        "PROMETHEUS_URL": f"http://127.0.0.1:{ports['prometheus']}",
        # A failing push gives up after two quick attempts, so a test sees `failed` in seconds.
        "PUSH_MAX_ATTEMPTS": "2",
        "PUSH_BACKOFF_BASE_SECONDS": "0.5",
        "PUSH_TENANT_PREFIX": "demo",  # other tests' leftover rows are not this platform's
    }
    log_path = work / "platform.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "local" / "run_platform.py")],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            "run_platform.py to print '[platform] up.'",
            lambda: proc.poll() is None and b"[platform] up." in log_path.read_bytes(),
            timeout=240,
        )
    except AssertionError:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        prometheus.terminate()
        raise AssertionError(log_path.read_text(errors="replace")[-4000:]) from None
    admin, reader = asyncio.run(
        tokens(stack_env["DATABASE_URL"], ["read", "write", "admin"], ["read", "write"])
    )
    try:
        yield Platform(
            customer=f"http://127.0.0.1:{ports['customer']}",
            billing=f"http://127.0.0.1:{ports['billing']}",
            qb_sync=f"http://127.0.0.1:{ports['qb_sync']}",
            emulator=f"http://127.0.0.1:{ports['emulator']}",
            console=f"http://127.0.0.1:{ports['console']}",
            prometheus=f"http://127.0.0.1:{ports['prometheus']}",
            bootstrap=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=stack_env["DATABASE_URL"],
            admin_token=admin,
            read_token=reader,
        )
    finally:
        proc.send_signal(signal.SIGINT)  # run_platform.py stops what it started
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
        prometheus.terminate()
        prometheus.wait(30)


async def tokens(dsn: str, *scopes: list[str]) -> list[str]:
    await migrate_auth(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        return [await create_token(conn, "demo", s, "e2e") for s in scopes]
    finally:
        await conn.close()


def start_prometheus(work: Path, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    binary = need("prometheus", "prometheus")
    targets = ", ".join(f'"127.0.0.1:{ports[n]}"' for n in ("customer", "billing", "qb_sync"))
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: customer-platform\n"
        f"    static_configs: [{{targets: [{targets}]}}]\n"
    )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> bool:
        url = f"http://127.0.0.1:{ports['prometheus']}/-/ready"
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200

    wait_until("Prometheus to be ready", ready, timeout=60)
    return proc


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = need(CHROMIUM, "chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=en-US",
        f"--user-data-dir={tempfile.mkdtemp(prefix='e2e-chromium-')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=Service(need(CHROMEDRIVER, "chromium-driver"))
    )
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> Path:
    """What a person sees at 1280 x 1000 (`name`.png), and the whole page (`name`-full.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(1000, min(int(height) + 40, 4000)))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}-full.png"))
    driver.set_window_size(1280, 1000)
    return path


def wait_for(
    driver: WebDriver, what: str, check: Callable[[WebDriver], Any], timeout: float = 60
) -> Any:
    # A refreshing page replaces what it redraws: an element found a moment ago may be gone.
    return WebDriverWait(
        driver, timeout, poll_frequency=0.3, ignored_exceptions=(StaleElementReferenceException,)
    ).until(check, message=what)


def javascript_errors(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed and "browser" in getattr(item, "funcargs", {}):
        with contextlib.suppress(Exception):  # a picture of what the page showed when it failed
            screenshot(item.funcargs["browser"], f"FAILED-{item.name}")
