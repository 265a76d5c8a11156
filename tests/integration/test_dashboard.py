"""The dashboard in a real headless chromium, fed by the real chain (oslo Notifier -> RabbitMQ
-> bridge -> Kafka -> 2 workers sharing the partitions).

The page is opened on the worker that does NOT own the operation: what it shows comes through
the routed read (``/operations`` fans out). One operation is followed while it progresses,
then completed with its failed hosts and their reasons; another, whose conductor died, is
marked stalled. With ``PRECACHE_DASHBOARD_SCREENSHOT=docs/dashboard.png`` the final page is
saved there too (the README's picture: taken once the crashed one is marked stalled, while the
followed one is usually still running).
"""

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from precache.pipeline.settings import WorkerSettings
from precache.simulate import SimulateSettings, SimulationPlan
from precache.simulate.conductor import simulate_operation
from tests.support.amqp import delete_queue
from tests.support.bridge import running_bridge
from tests.support.browser import contrast_ratios, headless_chromium
from tests.support.chain import bridge_for
from tests.support.scrape import scrape
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

HOSTS = 30
POLLS = 5.0  # seconds: two or three of the page's updates
FAILED = ["guaranine3 image_failed", "guaranine7 image_failed", "guaranine12 no_report"]


async def test_dashboard_follows_an_operation_through_the_chain(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    tmp_path: Path,
) -> None:
    # stalls after 6 s without progress: the crashed one soon, never the followed one (0.5 s)
    shape = {"raw_partitions": 2, "grace_period_s": 2.0, "stall_after_s": 6.0}
    first = start_worker(await worker_settings(**shape))
    first.wait_ready()
    second = start_worker(await worker_settings(**shape))
    second.wait_ready(partitions=1)
    first.wait_ready(partitions=1)  # the two share the raw topic's partitions

    bridge = bridge_for(first.settings, amqp_url, unique_name("dash"))
    bridge = bridge.model_copy(update={"raw_partitions": 2})
    simulate = SimulateSettings(amqp_url=SecretStr(amqp_url), control_exchange=bridge.exchange)
    earlier = SimulationPlan(hosts=8, aggregate_name="db-nodes", failing=frozenset({2}))
    crashed = SimulationPlan(hosts=10, aggregate_name="batch-farm", stop_after=4)
    followed = SimulationPlan(
        hosts=HOSTS,
        aggregate_name="web-frontends",
        failing=frozenset({3, 7}),
        no_report=frozenset({12}),
        delay_s=0.5,
        concurrency=1,  # 15 s: the page sees it partway, and the other one stall meanwhile
    )
    op_id = f"region-a/{followed.aggregate_uuid}/{followed.request_id}"
    crashed_id = f"region-a/{crashed.aggregate_uuid}/{crashed.request_id}"
    try:
        async with running_bridge(bridge):
            await asyncio.to_thread(simulate_operation, simulate, earlier)
            await asyncio.to_thread(simulate_operation, simulate, crashed)
            run = asyncio.ensure_future(asyncio.to_thread(simulate_operation, simulate, followed))
            owner = await asyncio.to_thread(owner_of, [first, second], op_id)
            other = second if owner is first else first
            with headless_chromium(tmp_path / "chromium") as browser:
                browser.get(other.url + "/")
                seen = await asyncio.to_thread(progress_seen, browser, op_id)
                await asyncio.to_thread(check_stalled, browser, crashed_id)
                save_screenshot(browser, tmp_path / "dashboard.png")
                check_contrast(browser)
                await run
                await asyncio.to_thread(check_completed, browser, op_id)
                await asyncio.to_thread(check_keyboard, browser, op_id)
                check_wall_screen(browser)
                # the owner's page shows the same (its own partition, no fan-out needed)
                browser.get(owner.url + "/")
                await asyncio.to_thread(check_completed, browser, op_id)
                check_metrics_add_up([first, second])
    finally:
        delete_queue(amqp_url, bridge.queue)
    assert 0 < seen < HOSTS


def check_metrics_add_up(workers: list[WorkerProcess]) -> None:
    """Each worker's /metrics counts its own partitions: summed, they are the cluster's."""
    scrapes = [scrape(w.url + "/metrics") for w in workers]

    def total(name: str, **labels: str) -> float:
        return sum(s.value(name, **labels) for s in scrapes)

    assert total("precache_worker_operations", state="completed", outcome="partial") == 2
    assert total("precache_worker_operations", state="stalled") == 1
    assert total("precache_worker_operations", state="running") == 0
    assert total("precache_worker_operations_completed_total", outcome="partial") == 2
    assert total("precache_worker_hosts_failed_total", reason="image_failed") == 3
    assert total("precache_worker_hosts_failed_total", reason="no_report") == 1
    assert total("precache_worker_hosts_reported_total") == 8 + 4 + HOSTS - 1


def owner_of(workers: list[WorkerProcess], op_id: str, wait_s: float = 60) -> WorkerProcess:
    """The worker whose own partitions hold ``op_id`` (it answers ``?local=1``)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for worker in workers:
            status, _ = worker.get(f"/operations/{op_id}?local=1")
            if status == 200:
                return worker
        time.sleep(0.1)
    raise AssertionError(f"no worker holds {op_id}")


def row(browser: WebDriver, table: str, op_id: str) -> str:
    return f'#{table} tr[data-operation-id="{op_id}"]'


def text_of(browser: WebDriver, selector: str) -> str | None:
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else None


def progress_seen(browser: WebDriver, op_id: str) -> int:
    """Wait until the running row shows some hosts done but not all; how many."""
    selector = row(browser, "running", op_id) + " .progress-text"

    def partway(page: WebDriver) -> int | None:
        text = text_of(page, selector)
        if not text:
            return None
        count, _, rest = text.partition(" / ")
        assert rest.startswith(f"{HOSTS} hosts ("), text
        return int(count) if 0 < int(count) < HOSTS else None

    done = WebDriverWait(browser, 60, poll_frequency=0.2).until(partway)
    assert done is not None
    base = row(browser, "running", op_id)
    assert text_of(browser, base + " .state") == "▶ running"
    assert text_of(browser, base + " .aggregate") == "web-frontends"
    rate = text_of(browser, base + " .rate") or ""
    assert rate == "—" or rate.endswith(" hosts/s"), rate
    left = text_of(browser, base + " .left") or ""
    assert left == "—" or left.startswith("≈ "), left
    return done


def check_completed(browser: WebDriver, op_id: str) -> None:
    """The operation leaves the running table and is listed completed with its failed hosts."""
    base = row(browser, "completed", op_id)
    WebDriverWait(browser, 60, poll_frequency=0.2).until(
        lambda _: browser.find_elements(By.CSS_SELECTOR, base + " .failed-hosts li")
    )
    assert not browser.find_elements(By.CSS_SELECTOR, row(browser, "running", op_id))
    assert text_of(browser, base + " .outcome") == "◐ partial"
    assert text_of(browser, base + " .hosts") == f"{HOSTS - 3} / {HOSTS} cached"
    items = browser.find_elements(By.CSS_SELECTOR, base + " .failed-hosts li")
    assert [li.text for li in items] == FAILED
    assert text_of(browser, base + " .failed-hosts summary") == "3 failed"


def check_stalled(browser: WebDriver, op_id: str) -> None:
    """The crashed conductor's operation is marked stalled, in words and not only colour."""
    base = row(browser, "running", op_id)
    WebDriverWait(browser, 60, poll_frequency=0.2).until(
        lambda _: (text_of(browser, base + " .state") or "").startswith("⚠")
    )
    assert "stalled" in (browser.find_element(By.CSS_SELECTOR, base).get_attribute("class") or "")
    assert (text_of(browser, base + " .state") or "").startswith("⚠ STALLED")  # then a count
    assert text_of(browser, base + " .progress-text") == "4 / 10 hosts (40%)"
    assert text_of(browser, base + " .left") == "— (stalled)"
    assert "(1 stalled)" in (text_of(browser, "#summary") or "")


def check_contrast(browser: WebDriver) -> None:
    """Every piece of text drawn meets WCAG AA (4.5:1), the stalled row's and badges' too, in
    the light and the dark colour scheme."""
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        for selector in ("h1", "h2", "#summary", "#updated", "th", "td", "td *", "footer", "a"):
            for ratio in contrast_ratios(browser, selector):
                assert ratio >= 4.5, (scheme, selector, round(ratio, 2))
        assert contrast_ratios(browser, "tr.stalled td"), "no stalled row was checked"
    background = "return getComputedStyle(document.body).backgroundColor"
    assert browser.execute_script(background) == "rgb(18, 18, 18)"  # the dark one did apply
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def check_keyboard(browser: WebDriver, op_id: str) -> None:
    """The failed-host list closes and opens from the keyboard, and stays as the reader left
    it while the page updates itself."""
    summary = browser.find_element(By.CSS_SELECTOR, row(browser, "completed", op_id) + " summary")
    items = row(browser, "completed", op_id) + " .failed-hosts li"
    summary.send_keys(Keys.ENTER)
    time.sleep(POLLS)  # a few updates of the page
    assert not [li for li in browser.find_elements(By.CSS_SELECTOR, items) if li.is_displayed()]
    summary.send_keys(Keys.ENTER)
    assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, items)] == FAILED


def check_wall_screen(browser: WebDriver) -> None:
    """On a wall screen everything is larger; on a laptop it is the browser's own size."""
    size = "return getComputedStyle(document.documentElement).fontSize"
    assert browser.execute_script(size) == "16px"
    browser.set_window_size(1920, 1080)
    assert browser.execute_script(size) == "24px"


def save_screenshot(browser: WebDriver, path: Path) -> None:
    assert browser.save_screenshot(str(path))
    wanted = os.environ.get("PRECACHE_DASHBOARD_SCREENSHOT")
    if wanted:
        shutil.copyfile(path, wanted)
