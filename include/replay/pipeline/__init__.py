"""A run of the pipeline: its context (run id, folders, clients), its steps, and ``replay run``.

``replay.pipeline.steps`` holds one function per step (check the stack, validate, replay, …);
``replay run`` (``replay.pipeline.run``) and the Airflow DAGs (``dags/``) call the same
functions, so a run behaves the same from the command line, from a DAG and from a test.
"""
