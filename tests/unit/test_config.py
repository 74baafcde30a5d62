"""Settings: TOML file, CALSYNC_<SECTION>__<KEY> overrides, one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.config import Settings, load_settings
from calsync.errors import ConfigError


def test_defaults_without_a_file():
    """No file and no environment: the documented defaults."""
    settings = load_settings(environ={})
    assert settings.database.url == "sqlite:///calsync.db"
    assert settings.sync.max_delete_fraction == 0.5
    assert settings.fetch.allow_private_networks is False


def test_file_then_environment(tmp_path):
    """The environment overrides the file, value types are read as TOML."""
    path = tmp_path / "calsync.toml"
    path.write_text('[sync]\npast_days = 10\n[fetch]\nallow_hosts = ["a.example"]\n')
    settings = load_settings(
        path,
        environ={"CALSYNC_SYNC__PAST_DAYS": "12", "CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS": "true"},
    )
    assert (
        settings.sync.past_days,
        settings.fetch.allow_hosts,
        settings.fetch.allow_private_networks,
    ) == (12, ("a.example",), True)


def test_config_file_from_the_environment(tmp_path):
    """$CALSYNC_CONFIG names the file when --config is not given."""
    path = tmp_path / "other.toml"
    path.write_text('[products]\ndefault_timezone = "Europe/Paris"\n')
    assert (
        load_settings(environ={"CALSYNC_CONFIG": str(path)}).products.default_timezone
        == "Europe/Paris"
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CALSYNC_FETCH__NOPE": "1"}, "unknown setting fetch.nope"),
        ({"CALSYNC_NOPE__X": "1"}, "unknown setting nope"),
        ({"CALSYNC_SYNC__PAST_DAYS": "many"}, "invalid setting sync.past_days"),
        ({"CALSYNC_SYNC__MAX_DELETE_FRACTION": "2"}, "invalid setting sync.max_delete_fraction"),
        ({"CALSYNC_SYNC__MAX_BACKOFF_MINUTES": "1e12"}, "invalid setting sync.max_backoff_minutes"),
        ({"CALSYNC_SYNC__INTERVAL_MINUTES": "600000"}, "invalid setting sync.interval_minutes"),
        ({"CALSYNC_PRODUCTS__DEFAULT_TIMEZONE": "Mars/Base"}, "unknown IANA timezone 'Mars/Base'"),
        ({"CALSYNC_FEEDS__SUMMARY": "Not\r\navailable"}, "feeds.summary: Value error, control"),
        ({"CALSYNC_DATABASE_URL": "sqlite://"}, "did you mean CALSYNC_DATABASE__URL?"),
    ],
)
def test_bad_settings_are_one_clear_error(environ, message):
    """A wrong key or value raises ConfigError naming it."""
    with pytest.raises(ConfigError) as raised:
        load_settings(environ=environ)
    assert message in str(raised.value)


def test_unreadable_or_invalid_file(tmp_path):
    """A missing file or broken TOML is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[sync\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})


def test_example_config_is_valid_and_complete():
    """config.example.toml loads, and documents every setting with its default."""
    example = Path(__file__).parent.parent.parent / "config.example.toml"
    settings = load_settings(example, environ={})
    text = example.read_text()
    for section, model in Settings.model_fields.items():
        assert f"[{section}]" in text
        for key in model.annotation.model_fields:  # type: ignore[union-attr]
            assert f"\n{key} = " in text or f"\n# {key} = " in text, (
                f"{section}.{key} is not documented"
            )
    assert settings.fetch == Settings().fetch


def test_other_calsync_variables_are_not_settings():
    """CALSYNC_TEST_POSTGRES_URL and CALSYNC_CONFIG are not read as settings."""
    settings = load_settings(
        environ={"CALSYNC_TEST_POSTGRES_URL": "postgresql://x/y", "CALSYNC_CONFIG": ""}
    )
    assert settings == Settings()


def test_a_short_session_secret_is_refused_without_showing_it():
    """ui.session_secret under 32 characters is refused; the message never repeats the secret."""
    with pytest.raises(ConfigError, match=r"ui\.session_secret") as raised:
        load_settings(environ={"CALSYNC_UI__SESSION_SECRET": "hunter2-but-longer"})
    assert "hunter2" not in str(raised.value)
    secret = "s" * 32
    assert secret == load_settings(environ={"CALSYNC_UI__SESSION_SECRET": secret}).ui.session_secret
