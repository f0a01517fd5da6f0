"""Example DAGs that ship with the package, because the provider runs them itself.

``python -m airflow_provider_sms.demo`` runs ``number_list_hygiene``, so the wheel must carry
it. Each file here is a symbolic link to the file of the same name in the repository's
top-level ``example_dags/`` folder, the one place where the examples are read and edited: the
wheel and the sdist store the linked file's content, so no second copy can drift.
"""
