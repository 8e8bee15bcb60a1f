"""CloudFormation on the montemap endpoint: templates deployed as local resources.

``aws cloudformation deploy`` (change sets), CreateStack and the other stack
actions, plus the IAM subset templates need, served on the server's one port
(docs/bring-your-own.md). Modules, one concept each:

- :mod:`.template` loads YAML/JSON templates and applies the SAM transform;
- :mod:`.parameters`, :mod:`.intrinsics` and :mod:`.graph` resolve a template;
- :mod:`.submission` and :mod:`.structure` refuse what CloudFormation refuses when a
  template is submitted (its shape, its references, the capabilities it needs);
- :mod:`.store` keeps stacks, resources, events, exports and change sets in SQLite;
- :mod:`.providers` create, update and delete each resource type;
- :mod:`.engine` runs stack operations (create, update, delete, rollback);
- :mod:`.changesets` computes what an update would change;
- :mod:`.actions` are the API's operations, :mod:`.query` its wire format,
  :mod:`.http` the ASGI application, :mod:`.iam` the IAM subset;
- :mod:`.wiring` installs all of it into a server; :mod:`.deploy_command` is ``montemap deploy``.
"""
