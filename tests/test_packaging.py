"""What `pip install .` puts in site-packages: this project's own package names only, every package listed,
and the Twilio SDK as an optional extra with a clear message when it is missing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile

from tests.conftest import REPO, SYNAPSE, write_artifacts

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_listed_under_its_installed_name():
    listed = set(PROJECT["tool"]["setuptools"]["packages"])
    mapped = {folder: name for name, folder in PROJECT["tool"]["setuptools"]["package-dir"].items()}
    found = set()
    for init in [*REPO.glob("gateway/**/__init__.py"), *REPO.glob("connectors/**/__init__.py")]:
        parts = init.parent.relative_to(REPO).parts
        found.add(".".join([mapped.get(parts[0], parts[0]), *parts[1:]]))
    assert found == listed


def test_the_wheel_holds_only_project_specific_top_level_packages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    top = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist() if "/" in name}
    assert {"gateway", "synapse_gateway_connectors"} <= top
    assert not top & {"connectors", "bench", "tests"}
    assert "synapse_gateway_connectors/twilio_rest/connector.yaml" in zipfile.ZipFile(wheel).namelist()


def test_without_the_twilio_sdk_the_connector_says_how_to_install_it(tmp_path):
    root = write_artifacts(
        tmp_path,
        {
            "proxies/p.xml": f'<proxy {SYNAPSE} name="p"><target><inSequence>'
            "<twilioRest.getSms><messageSid>SM1</messageSid>"
            "</twilioRest.getSms></inSequence></target></proxy>"
        },
    )
    blocked = "import sys; sys.modules['twilio'] = None; from gateway.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", blocked, "validate", str(root)], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 1
    assert "pip install 'synapse-gateway[twilio]'" in result.stdout
