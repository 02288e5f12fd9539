"""Keep great-expectations' logging out of the CLI and task logs (no GX import here)."""

from __future__ import annotations

import logging
import os

# GX sets the level of a few of its loggers to INFO on import, so they are quieted by name.
_QUIET_LOGGERS = (
    "great_expectations",
    "great_expectations._docs_decorators",
    "great_expectations.data_context.types.base",
    "posthog",
)


def quiet_gx_logging() -> None:
    """Keep GX's import-time chatter ("Skipping registering function ...") out of our output.

    Must run before ``great_expectations`` is first imported; GX logs hundreds of INFO lines
    then, which the CLI's and Airflow's handlers would otherwise print.
    """
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
