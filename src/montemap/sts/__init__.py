"""STS on the montemap endpoint: who is calling, and temporary credentials.

- :mod:`.identity` says who a caller is (the server's default caller, a
  configured key's user, an assumed role's session);
- :mod:`.sessions` keeps the temporary credentials AssumeRole and
  GetSessionToken issue, and the authenticator that accepts them on every
  service of a server with keys;
- :mod:`.actions` are the API's operations, :mod:`.http` its ASGI application
  (the query protocol of :mod:`montemap.cloudformation.query`).

docs/bring-your-own.md describes what is answered.
"""
