"""The UI plugin's code: the reports page (FastAPI), the DAG-run tab, the task link."""
