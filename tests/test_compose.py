"""compose.yaml is valid: it parses, every service is runnable, dependencies and anchors resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parent.parent


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_parses_and_services_are_complete() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"redis", "postgres"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose.get("volumes", {}), f"{name} uses undeclared volume {source}"
    for name in ("redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    if any("build" in s for s in services.values()):
        assert (ROOT / "Dockerfile").is_file()


def test_services_share_the_same_settings() -> None:
    migrate = _compose()["services"]["migrate"]
    env = migrate["environment"]
    assert env["AUTOINTERP_DB"].startswith("postgresql+psycopg://")
    assert migrate["command"][:3] == ["autointerp", "db", "upgrade"]
