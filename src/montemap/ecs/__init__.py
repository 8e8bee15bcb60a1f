"""The local ECS: task definitions, services and tasks run as processes on this machine.

Server-side, next to the engine it uses: :mod:`.ecs_api` answers the ECS JSON API
(:mod:`.ecs_http` on the one endpoint), :mod:`.service` keeps each service's
desired count of tasks running (:mod:`.task_runner`, :mod:`.processes`; tasks of
montemap's own worker forked from a warm template: :mod:`.warm_tasks`), in
cgroups (:mod:`.cgroups`) within the machine's capacity (:mod:`.capacity`,
:mod:`.limits`); :mod:`.taskdefs` and :mod:`.ecs_store` hold the records and
:mod:`.ecs_integration` is the ``ecs:runTask`` task of a state machine. The
activity workers those tasks run are :mod:`montemap.worker`.
"""
