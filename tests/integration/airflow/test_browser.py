"""A person's path through the Airflow UI, in headless Chromium (Debian's, driven by Playwright;
no browser download): log in, trigger meetup_replay from its form with non-default params, wait
for success, open "Replay reports", open the run's report in its DAG-run tab. Each page is
screenshotted into var/test-artifacts/browser/ (kept after the run)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from replay.dump.generator import generate_dump
from tests.airflow_env import PROJECT_ROOT
from tests.conftest import consume_committed
from tests.integration.airflow.conftest import LiveAirflow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page() -> Any:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "Debian's chromium is missing: .ci/run installs it (apt-get install chromium)"
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _newest_run(live: LiveAirflow, after: set[str]) -> dict[str, Any]:
    api = live.api()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = api.request("GET", "/api/v2/dags/meetup_replay/dagRuns?order_by=-run_after&limit=5")[
            "dag_runs"
        ]
        fresh = [r for r in runs if r["dag_run_id"] not in after]
        if fresh:
            return dict(fresh[0])
        time.sleep(0.5)
    raise AssertionError("the form did not create a run")


def test_log_in_trigger_from_the_form_and_read_the_report(
    page: Any, live_airflow: LiveAirflow, bootstrap_servers: str, topic_name: str
) -> None:
    dump = live_airflow.var / "dumps" / "browser.jsonl"
    generate_dump(dump, events=1500, seed=3, progress=False)
    api = live_airflow.api()
    api.wait_for_dag("meetup_replay")
    api.unpause("meetup_replay")
    before = {r["dag_run_id"] for r in api.request("GET", "/api/v2/dags/meetup_replay/dagRuns")["dag_runs"]}
    url = live_airflow.url

    page.goto(f"{url}/")
    page.get_by_label("Username").fill(live_airflow.settings.admin_user)
    page.get_by_label("Password").fill(live_airflow.password)
    _shot(page, "01-login")
    page.get_by_role("button", name="Sign in").click()
    # The login page redirects to the UI by itself: navigating before it has would abort.
    page.wait_for_url(lambda address: "login" not in address)
    page.get_by_role("button", name="Browse").wait_for()

    page.goto(f"{url}/dags/meetup_replay")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Dump and validation").click()
    # The form names each field's input element_<param>.
    dialog.locator("[name=element_dump]").fill(str(dump))
    dialog.get_by_text("Replay", exact=True).click()
    dialog.locator("[name=element_topic]").fill(topic_name)
    dialog.locator("[name=element_partitions]").fill("2")
    dialog.locator("[name=element_rate]").fill("3000")
    dialog.get_by_label("Pacing").click()
    page.get_by_role("option", name="rate", exact=True).click()
    _shot(page, "02-trigger-form")
    dialog.get_by_role("button", name="Trigger").click()

    run = _newest_run(live_airflow, before)
    run_id = run["dag_run_id"]
    assert run["conf"]["topic"] == topic_name and run["conf"]["pacing"] == "rate", run["conf"]
    assert run["conf"]["rate"] == 3000 and run["conf"]["partitions"] == 2, run["conf"]
    finished = api.follow("meetup_replay", run_id, timeout_s=300)
    assert finished["state"] == "success", api.task_instances("meetup_replay", run_id)
    assert len(consume_committed(bootstrap_servers, topic_name)) == 1500
    page.goto(f"{url}/dags/meetup_replay/runs/{quote(run_id, safe='')}")
    page.wait_for_load_state("networkidle")
    _shot(page, "03-run-succeeded")

    page.goto(f"{url}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Replay reports").click()
    page.wait_for_url("**/plugin/replay-reports")
    frame = page.frame_locator("iframe").first
    frame.get_by_text(run_id).wait_for()
    assert frame.get_by_text("passed").count() >= 1
    _shot(page, "04-replay-reports")

    page.goto(f"{url}/dags/meetup_replay/runs/{quote(run_id, safe='')}")
    page.get_by_text("Replay report", exact=True).click()
    page.wait_for_url("**/plugin/replay-report")
    frame = page.frame_locator("iframe").first
    frame.get_by_text("1,500").first.wait_for()
    _shot(page, "05-run-report-tab")
