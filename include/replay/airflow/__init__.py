"""The replay under Airflow: the DAG factory, its Params, connections, the UI plugin's code and
the local Airflow that ``make run`` starts.

``dags/`` and ``plugins/`` hold thin files that import from here; nothing in this package runs
pipeline logic of its own: every task calls one step of :mod:`replay.pipeline.steps`, exactly
as ``replay run`` does. Modules that need Airflow import it; the package itself does not, so
the rest of the library never pays for Airflow's import.
"""
