# The Airflow image for docker-compose.yaml: the official apache/airflow 3.3.1 image (Python 3.12, MWAA's pair),
# extended the documented way ("Building the image": pip install as the airflow user, Airflow pinned) with the
# project's requirements.txt under Airflow 3.3.1's constraints for Python 3.12.
#
# The constraints are the vendored copy of the file requirements.txt's first line points at (the URL MWAA uses),
# so a build needs PyPI but never raw.githubusercontent.com. That first line is dropped here and the local file
# is passed with -c instead: the same resolution as MWAA and as include/dev/bootstrap.sh's step 1.
#
# Build context: the repository root (docker-compose.yaml sets it); airflow.Dockerfile.dockerignore beside this
# file keeps the context to the few files copied below.
FROM apache/airflow:3.3.1-python3.12

COPY --chown=airflow:0 requirements.txt /opt/airflow/mwaa/requirements.txt
COPY --chown=airflow:0 include/mwaa/constraints/airflow-3.3.1-python3.12.txt /opt/airflow/mwaa/constraints.txt
RUN grep -v -E '^[[:space:]]*(-c|--constraint)[[:space:]=]' /opt/airflow/mwaa/requirements.txt \
        > /tmp/requirements-local.txt \
    && pip install --no-cache-dir "apache-airflow==3.3.1" -r /tmp/requirements-local.txt \
        -c /opt/airflow/mwaa/constraints.txt \
    && rm /tmp/requirements-local.txt \
    && python -c "from importlib.metadata import version; assert version('apache-airflow') == '3.3.1'"

# One-shot set-up run by the airflow-init service (directories, DB migration, shared airflow.cfg).
COPY --chown=airflow:0 include/compose/airflow-init.sh /opt/airflow/compose/airflow-init.sh
