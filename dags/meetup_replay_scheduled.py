"""DAG ``meetup_replay_scheduled``: the same replay on a schedule (REPLAY_DAG_SCHEDULE, default @daily).

Catchup off, one active run at a time, paused at creation: unpause it to start the schedule.
"""

from replay.airflow.dag_factory import build_replay_dag
from replay.airflow.settings import DagSettings

dag = build_replay_dag(
    "meetup_replay_scheduled",
    schedule=DagSettings().schedule,
    description="Validate a Meetup dump and replay it into Kafka exactly once (scheduled)",
    tags=["meetup-replay", "scheduled"],
)
