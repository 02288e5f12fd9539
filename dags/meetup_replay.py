"""DAG ``meetup_replay``: validate a Meetup dump, replay it into Kafka exactly once, reconcile.

Triggered by hand (the Params form); the tasks and params live in replay.airflow.dag_factory.
"""

from replay.airflow.dag_factory import build_replay_dag

dag = build_replay_dag(
    "meetup_replay",
    schedule=None,
    description="Validate a Meetup dump and replay it into Kafka exactly once (manual)",
    tags=["meetup-replay"],
)
