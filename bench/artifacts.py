"""Render the scenario artifacts (templates in bench/artifacts) into a per-run directory."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "artifacts"
REPO_DIR = TEMPLATE_DIR.parent.parent
# Shipped by the project itself: taken from the repository, so the bench runs exactly what users run.
FROM_REPO = ("proxies/twilioRest.xml", "sequences/faultHandlerSeq.xml", "sequences/fault.xml", "sequences/main.xml")
ECHO_URL_TOKEN = "@ECHO_URL@"

# scenario -> (proxy name, artifact files relative to TEMPLATE_DIR)
SCENARIO_ARTIFACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "passthrough": ("PassThrough", ("proxies/PassThrough.xml",)),
    # With the passthrough proxy: the cbr step measures both on one gateway, alternately.
    "cbr": ("CBRProxy", ("proxies/CBRProxy.xml", "proxies/PassThrough.xml")),
    "json-props": ("JsonProps", ("proxies/JsonProps.xml",)),
    "seed-sms": ("twilioRest", ("proxies/twilioRest.xml", "sequences/faultHandlerSeq.xml", "sequences/fault.xml")),
    "api": ("ApiTwin", ("proxies/ApiTwin.xml",)),
    "split": (
        "SplitTen",
        ("proxies/SplitTen.xml", "proxies/SequentialTen.xml", "proxies/ScatterTen.xml", "endpoints/Echo5.xml"),
    ),
}
SPLIT_SEQUENTIAL_PROXY = "SequentialTen"
SCATTER_GATHER_PROXY = "ScatterTen"
# The api scenario deploys this many copies of api/Shop.xml (contexts /shop000 … /shop199) and calls one.
API_COUNT = 200
API_TARGET = 150
API_TEMPLATE = "api/Shop.xml"

_PAYLOAD_FACTORY = re.compile(r"\s*<payloadFactory\b.*?</payloadFactory>", re.DOTALL)


def without_payload_factory(text: str) -> str:
    """The json-props fallback: same properties, then ``<respond/>`` echoes the request."""
    return _PAYLOAD_FACTORY.sub("", text)


def render(scenario: str, dest: Path, echo_url: str, fallback: bool = False) -> Path:
    """Write the scenario's artifacts under ``dest`` (proxies/, sequences/) and return ``dest``; every
    scenario also gets the shipped global main/fault sequences."""
    _, files = SCENARIO_ARTIFACTS[scenario]
    for rel in dict.fromkeys((*files, "sequences/main.xml", "sequences/fault.xml")):
        source = REPO_DIR / rel if rel in FROM_REPO else TEMPLATE_DIR / rel
        text = source.read_text(encoding="utf-8").replace(ECHO_URL_TOKEN, echo_url)
        if fallback:
            text = without_payload_factory(text)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if scenario == "api":
        text = (TEMPLATE_DIR / API_TEMPLATE).read_text(encoding="utf-8").replace(ECHO_URL_TOKEN, echo_url)
        (dest / "api").mkdir(parents=True, exist_ok=True)
        for index in range(API_COUNT):
            number = f"{index:03d}"
            (dest / "api" / f"Shop{number}.xml").write_text(text.replace("@N@", number), encoding="utf-8")
    return dest
