# The montemap image for AWS: one image, two entry points.
#
#   ECS (the workers):  the ENTRYPOINT below, `montemap worker` configured from the
#                       environment (MONTEMAP_ACTIVITY_ARN, MONTEMAP_STORE, AWS_REGION;
#                       see src/montemap/aws/container.py).
#   Lambda (functions): the CloudFormation template replaces the entry point with
#                       `python -m awslambdaric` and names the handler as the command.
#
# Everything is installed here, at build time; a task that starts runs at once.
#
#   docker buildx build --platform linux/amd64 --provenance=false -t montemap:TAG .
#
# (--provenance=false: Lambda accepts a single-platform image manifest only.)

ARG PYTHON=3.11

FROM python:${PYTHON}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Wheels for montemap, its dependencies and the Lambda runtime interface client.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . "awslambdaric==4.2.2"

FROM python:${PYTHON}-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels montemap awslambdaric \
    && python -c "import montemap.aws.container, montemap.credit.batch, montemap.workflows.functions, awslambdaric" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin montemap
USER 10001
WORKDIR /tmp
ENTRYPOINT ["python", "-m", "montemap.aws.container"]
