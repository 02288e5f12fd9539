"""``replay migrate``: ksql-migrations' verbs and flags over the library.

``replay migrate [-c FILE] VERB …`` (``-c`` also after the verb, as the tool allows). The
properties file defaults to ``ksql/ksql-migrations.properties``; ``--url`` and ``REPLAY_KSQL_URL``
/ ``_USERNAME`` / ``_PASSWORD`` / ``_TIMEOUT_S`` (when set in the environment) override the file's
server and credentials.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replay.migrate import commands
from replay.migrate.apply import DEFAULT_LEASE_S, Target, apply
from replay.migrate.config import DEFAULT_CONFIG_FILE, MigrationConfig, load_config, read_properties
from replay.migrate.parser import parse_defines
from replay.settings import KsqlSettings


def _config(args: argparse.Namespace) -> MigrationConfig:
    config = load_config(args.config_file)
    env = KsqlSettings()
    explicit = env.model_fields_set  # only what the environment really sets
    if args.url or explicit:
        config = config.with_settings(
            KsqlSettings(
                url=args.url or (env.url if "url" in explicit else config.server_url),
                username=env.username if "username" in explicit else config.username,
                password=env.password if "password" in explicit else config.password,
                timeout_s=env.timeout_s if "timeout_s" in explicit else config.timeout_s,
            )
        )
    if getattr(args, "headers", None):
        config = config.with_headers(read_properties(args.headers))
    return config


def _add_config_option(parser: argparse.ArgumentParser, *, top: bool) -> None:
    parser.add_argument(
        "-c",
        "--config-file",
        type=Path,
        default=DEFAULT_CONFIG_FILE if top else argparse.SUPPRESS,
        help=f"the project's ksql-migrations.properties (default {DEFAULT_CONFIG_FILE})"
        if top
        else argparse.SUPPRESS,
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay migrate`` and its verbs."""
    parser = subparsers.add_parser(
        "migrate",
        help="KSQL migrations (Confluent's ksql-migrations verbs): apply, info, validate, …",
        description="Apply the numbered KSQL files of a migrations project to ksqlDB over its REST API, "
        "recording each version in the same metadata stream and table as Confluent's ksql-migrations.",
    )
    _add_config_option(parser, top=True)
    parser.add_argument("--url", default=None, help="the ksqlDB server (overrides ksql.server.url)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    new = verbs.add_parser("new-project", help="create a project folder with a properties file")
    new.add_argument("project_path", type=Path)
    new.add_argument("ksql_server_url")
    new.set_defaults(func=_new_project)

    create = verbs.add_parser("create", help="create an empty migration file, numbered after the newest")
    create.add_argument("-v", "--version", type=int, default=None, help="the version (default: next free)")
    create.add_argument("description")
    create.set_defaults(func=_create)

    for name, func, text in (
        ("initialize-metadata", _initialize, "create the metadata stream and table on the server"),
        ("info", _info, "the current version and the state of every version"),
        ("validate", _validate, "check applied versions against the files (checksum, missing, gap)"),
        (
            "destroy-metadata",
            _destroy,
            "drop the metadata stream and table and their topics (not reversible)",
        ),
    ):
        verb = verbs.add_parser(name, help=text)
        verb.set_defaults(func=func)
        _add_config_option(verb, top=False)

    run = verbs.add_parser("apply", help="apply pending migrations")
    _add_config_option(run, top=False)
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("-a", "--all", action="store_true", help="every pending version")
    target.add_argument("-n", "--next", action="store_true", help="the next pending version")
    target.add_argument("-u", "--until", type=int, metavar="N", help="pending versions up to N")
    target.add_argument("-v", "--version", type=int, metavar="N", help="exactly version N")
    run.add_argument(
        "--dry-run", action="store_true", help="show what would run; send nothing that changes the server"
    )
    run.add_argument(
        "-d", "--define", action="append", metavar="NAME=VALUE", help="a variable for every file"
    )
    run.add_argument(
        "--headers", type=Path, default=None, help="a properties file of request headers to send"
    )
    run.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE_S,
        metavar="S",
        help=f"apply lock lease (default {DEFAULT_LEASE_S:.0f} s)",
    )
    run.set_defaults(func=_apply)
    for verb in (create, new):
        _add_config_option(verb, top=False)


def _new_project(args: argparse.Namespace) -> int:
    commands.new_project(args.project_path, args.ksql_server_url, report=print)
    return 0


def _create(args: argparse.Namespace) -> int:
    commands.create(_config(args), args.description, version=args.version, report=print)
    return 0


def _initialize(args: argparse.Namespace) -> int:
    commands.initialize(_config(args), report=print)
    return 0


def _destroy(args: argparse.Namespace) -> int:
    commands.destroy(_config(args), report=print)
    return 0


def _validate(args: argparse.Namespace) -> int:
    commands.validate(_config(args), report=print)
    return 0


def _info(args: argparse.Namespace) -> int:
    current, rows = commands.info(_config(args))
    print(commands.format_info(current, rows))
    return 0


def _apply(args: argparse.Namespace) -> int:
    if args.all:
        target = Target("all")
    elif args.next:
        target = Target("next")
    elif args.until is not None:
        target = Target("until", args.until)
    else:
        target = Target("version", args.version)
    config = _config(args)
    result = apply(
        config,
        target,
        dry_run=args.dry_run,
        defines=parse_defines(args.define),
        lease_s=args.lease,
        report=print,
    )
    applied = sum(1 for outcome in result.versions if outcome.state == "MIGRATED")
    seconds = (result.finished_ms - result.started_ms) / 1000
    if args.dry_run:
        print(f"dry run on {result.server_url} (ksqlDB {result.server_version}): nothing was changed")
    else:
        print(
            f"applied {applied} version(s) on {result.server_url} (ksqlDB {result.server_version}) in {seconds:.2f} s; "
            f"current version {result.current}"
        )
    return 0
