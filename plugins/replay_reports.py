"""The Airflow UI plugin of the replay: registration only; the code is in include/replay/airflow/ui/."""

from replay.airflow.ui.plugin import ReplayReportsPlugin

__all__ = ["ReplayReportsPlugin"]
