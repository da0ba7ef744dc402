"""Settings read from the environment."""

from pathlib import Path

import pytest

from garde.settings import Settings


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"GARDE_DATA_DIR": str(tmp_path), **env})


def test_the_public_url_follows_the_web_port_when_not_set(tmp_path: Path) -> None:
    # SMS links and the Temporal UI's codec endpoint (`garde up`) are made from it.
    assert settings(tmp_path).public_url == "http://127.0.0.1:8000"
    assert settings(tmp_path, GARDE_WEB_PORT="8100").public_url == "http://127.0.0.1:8100"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8100"),
        ("::", "http://127.0.0.1:8100"),
        ("::1", "http://[::1]:8100"),
        ("garde.local", "http://garde.local:8100"),
    ],
)
def test_the_public_url_reaches_the_web_host(tmp_path: Path, host: str, url: str) -> None:
    assert settings(tmp_path, GARDE_WEB_HOST=host, GARDE_WEB_PORT="8100").public_url == url


def test_a_public_url_given_wins(tmp_path: Path) -> None:
    given = settings(tmp_path, GARDE_WEB_PORT="8100", GARDE_PUBLIC_URL="https://garde.example/")
    assert given.public_url == "https://garde.example"
