"""compose.yaml, the multi-node form (issue #19): read as Compose reads it (YAML merge
keys), it has one PostgreSQL service and two Postwarden services built from the
Dockerfile, on that one database, with the same secret key (a node with another key cannot
read what the console saved), each with its own data volume at the image's data directory,
starting once the database is healthy. Running it needs a container runtime, which
tests/test_container.py tries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_two_nodes_share_one_postgres_database_and_one_secret_key() -> None:
    services = compose()["services"]
    nodes = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(nodes) == 2
    assert services["db"]["image"].startswith("postgres:")
    urls = {s["environment"]["DATABASE_URL"] for s in nodes.values()}
    assert len(urls) == 1
    (url,) = urls
    assert url.startswith("postgres://postwarden:")
    assert url.endswith("@db:5432/postwarden")
    assert len({s["environment"]["POSTWARDEN_SECRET_KEY"] for s in nodes.values()}) == 1
    for node in nodes.values():
        assert node["depends_on"]["db"]["condition"] == "service_healthy"
    volumes = [v for s in nodes.values() for v in s["volumes"]]
    assert len(volumes) == 2
    assert all(v.endswith(":/var/lib/postwarden") for v in volumes)
    assert len({v.split(":")[0] for v in volumes}) == 2


def test_the_image_keeps_its_data_where_compose_mounts_it() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'VOLUME ["/var/lib/postwarden"]' in dockerfile
    assert "POSTWARDEN_DATA_DIR=/var/lib/postwarden" in dockerfile
