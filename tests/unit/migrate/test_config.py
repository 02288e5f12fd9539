"""The project's properties file (ksql-migrations' format) and its overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from replay.errors import ConfigError
from replay.migrate.config import DEFAULT_CONFIG_FILE, initial_properties, load_config, read_properties
from replay.settings import KsqlSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ksql-migrations.properties"
    path.write_text(text)
    return path


def test_defaults_follow_the_tool(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "ksql.server.url=http://127.0.0.1:1\n"))
    assert config.server_url == "http://127.0.0.1:1"
    assert config.migrations_dir == tmp_path / "migrations"
    assert (config.stream_name, config.table_name, config.topic_replicas) == (
        "MIGRATION_EVENTS",
        "MIGRATION_SCHEMA_VERSIONS",
        1,
    )
    assert config.topics("svc_") == ("svc_ksql_MIGRATION_EVENTS", "svc_ksql_MIGRATION_SCHEMA_VERSIONS")


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "ksql.server.url : http://h:2\n"
            "ksql.auth.basic.username=me\nksql.auth.basic.password=s3cret\n"
            "ksql.migrations.stream.name=EV\nksql.migrations.table.name=TB\n"
            "ksql.migrations.stream.topic.name=ev-topic\nksql.migrations.table.topic.name=tb-topic\n"
            "ksql.migrations.topic.replicas=3\nksql.migrations.dir.override=other\n",
        )
    )
    assert (config.username, config.stream_name, config.table_name) == ("me", "EV", "TB")
    assert config.password is not None and config.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.topics("ignored_") == ("ev-topic", "tb-topic")
    assert config.topic_replicas == 3 and config.migrations_dir == tmp_path / "other"


def test_settings_override_the_files_server_and_credentials(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "ksql.server.url=http://file:1\nksql.auth.basic.username=u\n"),
        ksql=KsqlSettings(url="http://conn:2", username="v", password=SecretStr("p"), timeout_s=5),
    )
    assert (config.server_url, config.username, config.timeout_s) == ("http://conn:2", "v", 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# nothing\n", "has no ksql.server.url"),
        ("ksql.server.url=x\nksql.migrations.topic.replicas=two\n", "whole number"),
    ],
)
def test_bad_files_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "nope.properties")
    assert "does not exist" in error.value.message and "new-project" in (error.value.hint or "")


def test_the_new_project_template_reads_back_to_just_the_url(tmp_path: Path) -> None:
    path = write(tmp_path, initial_properties("http://127.0.0.1:8088"))
    assert read_properties(path) == {"ksql.server.url": "http://127.0.0.1:8088"}


def test_the_projects_own_file_points_at_the_local_server() -> None:
    assert read_properties(DEFAULT_CONFIG_FILE)["ksql.server.url"] == "http://127.0.0.1:8088"
