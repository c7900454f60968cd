"""The dashboard end to end in a real browser: Debian's headless Chromium driven by playwright-core
(tests/browser/dashboard.mjs) against a `gateway serve --workers 2` subprocess under traffic. It logs in,
reads states, request rates and a failed deployment with its file:line, and deactivates a proxy with the button;
the proxy then really answers 503. Set DASHBOARD_SCREENSHOT=path.png to keep a screenshot (docs/dashboard.png)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import orjson
import pytest

from tests.conftest import REPO, SYNAPSE
from tests.support.subprocess_gateway import HANG_GUARD, free_port, get
from tests.test_management_api import ARTIFACTS, USERS

BROWSER = REPO / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def require_browser() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node (apt-get install nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci --prefix tests/browser)")
    if missing:
        reason = "the dashboard browser test needs " + ", ".join(missing) + "; .ci/run installs them"
        if os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    assert node is not None
    return node


def test_the_dashboard_in_headless_chromium(serve, tmp_path):
    node = require_browser()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"management:\n  users:\n    - name: admin\n      password: '{USERS[0].password_hash}'\n")
    files = {
        **ARTIFACTS,
        "proxies/Orders.xml": ARTIFACTS["proxies/Echo.xml"].replace('name="Echo"', 'name="Orders"'),
        "proxies/Broken.xml": f'<proxy {SYNAPSE} name="Broken"><target><inSequence>\n  <bogus/>\n'
        "</inSequence></target></proxy>",
    }
    port, management_port = free_port(), free_port()
    gw = serve(port, 2, files=files, args=["--config", str(config), "--management-port", str(management_port)])
    for pid in gw.wait_started(2).values():
        gw.wait_serving(pid)
    # a broken update while it runs: the dashboard lists it with its .back file
    orders = tmp_path / "gateway0" / "proxies" / "Orders.xml"
    orders.write_text(files["proxies/Broken.xml"].replace('"Broken"', '"Orders"'), encoding="utf-8")
    gw.wait_until(lambda: orders.with_name("Orders.xml.back").exists(), "the broken update to be backed up")

    stop = threading.Event()

    def traffic() -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not stop.is_set() and time.monotonic() < deadline:
            get(port, "/services/Echo")
            time.sleep(0.02)

    sender = threading.Thread(target=traffic)
    sender.start()
    screenshot = os.environ.get("DASHBOARD_SCREENSHOT", "")
    try:
        result = subprocess.run(
            [node, "dashboard.mjs", f"http://127.0.0.1:{management_port}", "admin", "admin-pass", "Echo", screenshot],
            cwd=BROWSER,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD * 2,
            env={**os.environ, "CHROMIUM": CHROMIUM},
        )
    finally:
        stop.set()
        sender.join()
    assert result.returncode == 0, result.stderr + gw.log()
    findings = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert findings["wrongPassword"] == "Wrong user or password."
    assert (findings["before"], findings["after"], findings["button"]) == ("active", "inactive", "Activate")
    assert findings["requests"] > 0 and findings["rate"] > 0
    assert any("proxies/Broken.xml:2" in row and "unknown mediator 'bogus'" in row for row in findings["failed"])
    assert "2 worker(s)" in findings["summary"]
    assert findings["consoleErrors"] == []
    # the button really stopped the proxy, on every worker
    gw.wait_until(lambda: all(get(port, "/services/Echo")[0] == 503 for _ in range(6)), "Echo to answer 503")
