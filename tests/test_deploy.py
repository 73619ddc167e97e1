"""The deployment files are not run here (no container engine), so their wiring is checked as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hotswap.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_dependency_names_a_service() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_replicas_start_only_after_the_one_shot_migration() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["hotswap", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["deploy"]["replicas"] >= 2


def test_the_api_settings_in_compose_are_valid_production_settings() -> None:
    env = dict(_compose()["services"]["api"]["environment"])
    env["HOTSWAP_JWT_SECRET"] = "x" * 40  # compose takes it from the operator's shell
    settings = Settings(**{k.removeprefix("HOTSWAP_").lower(): v for k, v in env.items()})
    assert settings.env == "production"
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url is not None
    # compose refuses to start without a secret instead of falling back to the development one
    assert ":?" in _compose()["x-hotswap"]["environment"]["HOTSWAP_JWT_SECRET"]


def test_the_image_is_built_from_files_that_exist() -> None:
    build = _compose()["x-hotswap"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    dockerfile = (context / build["dockerfile"]).read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"Dockerfile copies missing {source}"
    assert "--require-hashes -r requirements.lock" in dockerfile
