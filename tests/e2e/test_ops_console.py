"""The ops console in a real browser, on the real platform: what an operator sees and does.

The tests run in file order on one platform and one browser session (logged in by the first)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceIssued
from platform_events.contracts.customer import CustomerCreated, CustomerSnapshot
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers
from tests.e2e.conftest import (
    DEMO_REALM,
    Platform,
    javascript_errors,
    screenshot,
    wait_for,
    wait_until,
)

pytestmark = pytest.mark.integration


def open_page(driver: WebDriver, platform: Platform, page: str) -> None:
    """Follow the page's own nav link (by keyboard: focus it, press Enter) and wait for it."""
    link = driver.find_element(By.CSS_SELECTOR, f'#nav a[href="#/{page}"]')
    link.send_keys(Keys.ENTER)
    wait_for(
        driver,
        f"the {page} page to load",
        lambda d: (
            d.find_element(By.ID, "page").get_attribute("data-page") == page
            and d.find_element(By.ID, "page").get_attribute("data-loaded") == "true"
        ),
    )


def row_of(driver: WebDriver, table_label: str, key: str) -> WebElement:
    return driver.find_element(
        By.CSS_SELECTOR, f'table[aria-label="{table_label}"] tr[data-key="{key}"]'
    )


def row_texts(driver: WebDriver, table_label: str, key: str) -> list[str]:
    """The cells' text of one row, read in one step (a refreshing page replaces its tables)."""
    texts = driver.execute_script(
        "const t = [...document.querySelectorAll('table')]"
        ".find(t => t.getAttribute('aria-label') === arguments[0]);"
        "const r = t && [...t.querySelectorAll('tr')]"
        ".find(r => r.dataset.key === arguments[1]);"
        "return r ? [...r.cells].map(c => c.innerText.trim()) : [];",
        table_label,
        key,
    )
    return [str(t) for t in texts]


def no_script_errors(driver: WebDriver) -> None:
    errors = [e for e in javascript_errors(driver) if "Failed to load resource" not in e]
    assert errors == [], errors


def test_login_needs_an_admin_token_and_shows_every_service(
    platform: Platform, browser: WebDriver
) -> None:
    browser.get(platform.console)
    field = browser.find_element(By.ID, "token")
    assert browser.find_element(By.CSS_SELECTOR, 'label[for="token"]').text == "Admin token"

    field.send_keys(platform.read_token, Keys.ENTER)
    wait_for(
        browser,
        "the refusal of a read/write token",
        lambda d: "lacks the admin scope" in d.find_element(By.ID, "login-error").text,
    )
    assert not browser.find_element(By.ID, "nav").is_displayed()

    browser.find_element(By.ID, "token").send_keys(platform.admin_token, Keys.ENTER)
    wait_for(browser, "the services page", lambda d: d.find_element(By.ID, "nav").is_displayed())
    wait_for(
        browser,
        "four services alive and ready",
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, 'table[aria-label="Services"] tbody tr')) == 4
        ),
    )
    assert "tenant demo" in browser.find_element(By.ID, "who-text").text
    for name in ("customer", "billing", "qb-sync", "qbo-emulator"):
        cells = row_texts(browser, "Services", name)
        assert cells[2] == "alive", cells
        assert cells[3] == "ready", cells
    # Prometheus answers, so restarts are counted (0 on a fresh platform), not "unknown".
    wait_for(
        browser,
        "restart counts from Prometheus",
        lambda d: row_texts(d, "Services", "billing")[7] == "0",
        timeout=30,
    )
    screenshot(browser, "services")
    no_script_errors(browser)


def lag_burst(bootstrap: str, count: int) -> None:
    """`count` customers of a fresh tenant created at once: a backlog billing works through."""
    tenant = f"lag-{uuid.uuid4().hex[:8]}"

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
        await producer.start()
        try:
            futures = []
            for _ in range(count):
                cid = str(uuid.uuid4())
                data = CustomerCreated(
                    customer=CustomerSnapshot(
                        customer_id=cid,
                        company_name=f"Lag {cid[:8]}",
                        tracking_number=f"LAG-{cid[:8]}",
                        currency="USD",
                        version=1,
                    )
                )
                envelope = new_envelope(
                    data, source="e2e", subject=cid, tenant_id=tenant, sequence=1
                )
                futures.append(
                    await producer.send(
                        "customer.events",
                        envelope.model_dump_json().encode(),
                        key=cid.encode(),
                        headers=encode_headers(kafka_headers(envelope)),
                    )
                )
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(send())


def read_chart(driver: WebDriver, chart: str, what: str) -> str | None:
    """One attribute of a chart (or its SVG's markup), read in one step: the page redraws its
    charts every few seconds, so an element found a moment ago may be gone."""
    script = (
        "const f = document.querySelector(`figure[data-chart='${arguments[0]}']`);"
        "if (!f) return null;"
        "return arguments[1] === 'svg' ? f.querySelector('svg').innerHTML"
        " : f.getAttribute(arguments[1]);"
    )
    value = driver.execute_script(script, chart, what)
    return None if value is None else str(value)


def test_lag_chart_moves_while_events_flow(platform: Platform, browser: WebDriver) -> None:
    open_page(browser, platform, "flow")
    Select(browser.find_element(By.ID, "window")).select_by_visible_text("last 5 min")

    def peak() -> float:
        return float(read_chart(browser, "lag-billing", "data-peak") or 0)

    # Billing's lag chart exists once billing reported its partitions (lag 0 while idle).
    wait_until("billing's lag chart", lambda: read_chart(browser, "lag-billing", "svg"))
    before = read_chart(browser, "lag-billing", "svg")
    for _ in range(6):  # bursts until a lag measurement (every 5 s) catches a backlog
        lag_burst(platform.bootstrap, 15_000)
        with contextlib.suppress(AssertionError):
            wait_until("a lag peak on billing's chart", lambda: peak() > 0, timeout=15)
            break
    assert peak() > 0, "no lag ever showed on billing's chart"
    # The chart redraws by itself: the backlog drains and the latest value falls below the peak.
    wait_until(
        "billing's lag to drain on the chart",
        lambda: float(read_chart(browser, "lag-billing", "data-last") or 0) < peak(),
        timeout=120,
    )
    assert read_chart(browser, "lag-billing", "svg") != before
    assert float(read_chart(browser, "events-in", "data-peak") or 0) > 0
    lag_groups = browser.execute_script(
        'return [...document.querySelectorAll(\'table[aria-label="Consumer lag now"] tbody tr,'
        ' table[aria-label="Partitions with no lag"] tbody tr\')]'
        ".map(r => r.cells[0].textContent)"
    )
    assert "billing" in lag_groups
    screenshot(browser, "event-flow")
    no_script_errors(browser)


async def billing_knows(dsn: str, customer_id: str, active: bool) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(
            await conn.fetchval(
                "SELECT true FROM billing.customers WHERE tenant_id = 'demo' "
                "AND customer_id = $1 AND active = $2",
                customer_id,
                active,
            )
        )
    finally:
        await conn.close()


def publish_invoice(bootstrap: str, customer_id: str, invoice_id: str, amount_minor: int) -> str:
    data = InvoiceIssued(
        customer_id=customer_id,
        invoice_id=invoice_id,
        amount={"amount_minor": amount_minor, "currency": "USD"},
    )
    envelope = new_envelope(
        data,
        source="e2e",
        subject=customer_id,
        tenant_id="demo",
        sequence=1,
        time=datetime.now(UTC),
    )

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                "billing.transactions",
                envelope.model_dump_json().encode(),
                key=customer_id.encode(),
                headers=encode_headers(kafka_headers(envelope)),
            )
        finally:
            await producer.stop()

    asyncio.run(send())
    return str(envelope.id)


def test_a_dead_letter_is_found_replayed_after_the_fix_and_applied(
    platform: Platform, browser: WebDriver
) -> None:
    customers = platform.client(platform.customer)
    created = customers.post(
        "/customers", json={"company_name": "Dormant Ltd", "contact_name": "Ada", "currency": "USD"}
    )
    assert created.status_code == 201, created.text
    cid = created.json()["customer_id"]
    assert customers.post(f"/customers/{cid}/inactivate").status_code == 200
    wait_until(
        "billing to learn the customer is inactive",
        lambda: asyncio.run(billing_knows(platform.database_url, cid, active=False)),
    )
    # An invoice for an inactive customer: billing refuses it and dead-letters it.
    event_id = publish_invoice(platform.bootstrap, cid, f"INV-{cid[:8]}", 4200)

    open_page(browser, platform, "dead-letters")
    topic = "billing.transactions.dlq"

    def letter() -> WebElement:
        return browser.find_element(By.CSS_SELECTOR, f'article.letter[data-event-id="{event_id}"]')

    def browse() -> WebElement:
        open_page(browser, platform, "billing")  # leave and come back: the page reloads
        open_page(browser, platform, "dead-letters")
        row_of(browser, "Dead-letter topics", topic).find_element(
            By.XPATH, f'.//button[normalize-space()="Browse {topic}"]'
        ).send_keys(Keys.ENTER)
        return wait_for(browser, "the letters", lambda d: letter(), timeout=10)

    wait_until("the dead letter in the console", browse, timeout=90, every=1)
    found = letter()
    assert "customer is inactive" in found.find_element(By.CSS_SELECTOR, "dd.reason").text
    original = found.find_element(By.CSS_SELECTOR, "pre.original").text
    assert f'"id": "{event_id}"' in original  # the original bytes, pretty-printed JSON
    assert "billing.transactions[" in found.text  # its source position
    assert "dlq-reason" in found.get_attribute("textContent")  # headers listed
    screenshot(browser, "dead-letters")

    # The fix: the customer is active again. Then replay this one letter, confirming first.
    assert customers.post(f"/customers/{cid}/reactivate").status_code == 200
    wait_until(
        "billing to learn the customer is active",
        lambda: asyncio.run(billing_knows(platform.database_url, cid, active=True)),
    )
    replay = found.find_element(
        By.XPATH, ".//button[starts-with(normalize-space(), 'Replay letter')]"
    )
    replay.send_keys(Keys.ENTER)
    dialog = browser.find_element(By.ID, "confirm")
    wait_for(browser, "the confirmation dialog", lambda d: dialog.is_displayed())
    assert "after the cause is fixed" in dialog.text
    browser.find_element(By.ID, "confirm-cancel").send_keys(Keys.ENTER)  # first: cancel
    wait_for(browser, "the dialog to close", lambda d: not dialog.is_displayed())
    assert "cancelled" in browser.find_element(By.ID, "status").text
    replay = letter().find_element(
        By.XPATH, ".//button[starts-with(normalize-space(), 'Replay letter')]"
    )
    replay.send_keys(Keys.ENTER)
    wait_for(browser, "the confirmation dialog", lambda d: dialog.is_displayed())
    browser.find_element(By.ID, "confirm-ok").click()
    wait_for(
        browser,
        "the replay to be reported",
        lambda d: (
            "Replayed 1 letter(s) from billing.transactions.dlq"
            in d.find_element(By.ID, "status").text
        ),
    )

    # Applied: billing's page lists the refusal as resolved, and the balance holds the invoice.
    open_page(browser, platform, "billing")
    browser.find_element(By.ID, "include-resolved").send_keys(Keys.SPACE)

    def resolved() -> bool:
        browser.find_element(By.XPATH, '//button[normalize-space()="Refresh"]').send_keys(
            Keys.ENTER
        )
        return row_texts(browser, "Rejections", event_id)[5].startswith("resolved")

    wait_until("the rejection to show as resolved", resolved, timeout=60, every=1)
    balance = platform.client(platform.billing).get(f"/v1/customers/{cid}/balance").json()
    assert any(a["current_balance_minor"] == 4200 for a in balance["accounts"]), balance
    screenshot(browser, "billing")
    no_script_errors(browser)


def test_a_failed_quickbooks_push_is_retried_from_the_console(
    platform: Platform, browser: WebDriver
) -> None:
    emulator = platform.client(platform.emulator)
    assert (
        emulator.put(
            "/_admin/faults", json={"fail_next_n_5xx": 1000, "realm_id": DEMO_REALM}
        ).status_code
        == 200
    )
    customers = platform.client(platform.customer)
    name = f"Retry Me {uuid.uuid4().hex[:6]}"
    created = customers.post("/customers", json={"company_name": name, "contact_name": "Bo"})
    assert created.status_code == 201, created.text
    cid = created.json()["customer_id"]
    pushed = customers.post(f"/customers/{cid}/quickbooks/push", json={"realm_id": DEMO_REALM})
    assert pushed.status_code == 202, pushed.text
    desktop = platform.client(platform.qb_sync).post("/quickbooks-desktop/connections")
    assert desktop.status_code == 201, desktop.text

    open_page(browser, platform, "quickbooks")

    def status() -> str:
        open_page(browser, platform, "services")
        open_page(browser, platform, "quickbooks")
        return row_texts(browser, "Sync status", cid)[2]

    wait_until("the push to fail", lambda: status() == "failed", timeout=120, every=2)
    first = browser.find_elements(By.CSS_SELECTOR, 'table[aria-label="Sync status"] tbody tr')[0]
    assert first.find_elements(By.TAG_NAME, "td")[2].text == "failed"  # failures come first
    connection = browser.find_element(By.CSS_SELECTOR, 'table[aria-label="QuickBooks connections"]')
    assert DEMO_REALM in connection.text and "connected" in connection.text
    desktop_row = row_of(browser, "QuickBooks connections", desktop.json()["connection_id"])
    assert "QuickBooks Desktop" in desktop_row.text  # beside Online, with its session state
    assert desktop.json()["file_id"] in desktop_row.text
    assert "the Web Connector has not called yet" in desktop_row.text
    calls = browser.find_element(By.CSS_SELECTOR, 'figure[data-chart="qbo-calls"]')
    assert calls.find_elements(By.CSS_SELECTOR, "line.limit")  # the limit is drawn
    screenshot(browser, "quickbooks")

    assert emulator.delete("/_admin/faults").status_code == 200  # QuickBooks is back
    row_of(browser, "Sync status", cid).find_element(
        By.XPATH, f'.//button[@aria-label="Retry {cid}"]'
    ).send_keys(Keys.ENTER)
    wait_for(
        browser,
        "the retry to be accepted",
        lambda d: f"Retried: {cid} is now" in d.find_element(By.ID, "status").text,
    )
    wait_until("the push to sync", lambda: status() == "synced", timeout=90, every=2)
    found = emulator.get(f"/_admin/realms/{DEMO_REALM}/customers").json()
    assert [c for c in found.values() if c.get("DisplayName") == name], "not in QuickBooks"
    no_script_errors(browser)
