"""The dependency rule of every package, enforced (docs/architecture.md draws them).

Each package under ``src/montemap`` lists what of montemap it may import: other
packages, single modules (``ecs.capacity``) or, for one module that wires
the others (a command), a wider list under its own dotted name. Imports inside
the package itself and of ``montemap`` (the version) are always allowed;
imports under ``TYPE_CHECKING`` count like any other. A failure names each
forbidden edge: the importing module, the line, and the imported name.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "montemap"

#: Imported by anything: the error tree, JSON type names, ARNs, temporary directories,
#: the command line's number types, the keys clients sign with.
FOUNDATION = frozenset(
    {"errors", "jsontypes", "arns", "scratch_dirs", "option_types", "signing_keys"}
)

#: What each package (or module, by dotted name; the most specific key wins) may
#: import from montemap beyond :data:`FOUNDATION` and itself.
ALLOWED: dict[str, frozenset[str]] = {
    # The foundation imports nothing of montemap but itself.
    "errors": frozenset(),
    "jsontypes": frozenset(),
    "arns": frozenset(),
    "scratch_dirs": frozenset(),
    "option_types": frozenset(),
    "signing_keys": frozenset(),
    # Lambda's function names, parsed (shared by the engine and the Lambda API).
    "lambda_names": frozenset(),
    # One server per data directory (a lock file), taken by the assembly (or by
    # ``montemap run`` before it generates a portfolio, and handed to its server).
    "datadir_lock": frozenset(),
    # Libraries: no server, no engine.
    "asl": frozenset(),
    "storage": frozenset(),
    "credit": frozenset({"storage"}),
    "worker": frozenset(),
    "testing": frozenset(),
    # The engine runs ASL over storage; it knows Lambda's function names, no API.
    "engine": frozenset({"asl", "storage", "lambda_names"}),
    # The Step Functions API over the engine.
    "api": frozenset({"asl", "engine"}),
    "api.cli": frozenset({"asl", "engine", "assembly", "ecs.capacity"}),
    # The other services on the one endpoint, each over the API's HTTP pieces.
    "s3api": frozenset({"api", "storage"}),
    "lambda_api": frozenset({"api", "engine", "storage", "aws.mapping", "lambda_names"}),
    "ecs": frozenset({"api", "engine", "aws.mapping"}),
    "cloudformation": frozenset({"api", "engine", "storage", "lambda_api", "ecs", "workflows"}),
    # STS: callers' identities and temporary credentials, in the query protocol's wire format.
    "sts": frozenset({"api", "cloudformation.query"}),
    # Composition: what assembles, shows or drives the whole.
    "assembly": frozenset(
        {"api", "asl", "aws", "cloudformation", "console", "ecs", "engine"}
        | {"datadir_lock", "environment", "lambda_api", "lambda_names", "s3api", "storage"}
        | {"sts", "worker"}
    ),
    "console": frozenset({"api", "assembly", "engine", "storage", "ecs", "workflows"}),
    "workflows": frozenset(
        {"api.httpserver", "assembly", "credit", "datadir_lock", "environment", "storage"}
    ),
    "aws": frozenset({"asl", "assembly", "storage", "worker", "ecs.taskdefs", "workflows"}),
    # The server's and its workers' MONTEMAP_* settings, checked together at start.
    "environment": frozenset(
        {"asl", "cloudformation.wiring", "ecs.warm_tasks", "engine", "worker.poll_ahead"}
    ),
    "cli": frozenset(),
    "__init__": frozenset(),
}

#: Names no module of a package may import, even from a module it may import.
FORBIDDEN_NAMES: dict[str, frozenset[str]] = {
    # AWS error codes are the API's business: the engine raises its own errors.
    "engine": frozenset({"errors.ApiError"}),
    "asl": frozenset({"errors.ApiError"}),
    "storage": frozenset({"errors.ApiError"}),
    "credit": frozenset({"errors.ApiError"}),
    "worker": frozenset({"errors.ApiError"}),
}


def module_name(path: Path, root: Path = SOURCE) -> str:
    """``api.actions.base`` for ``src/montemap/api/actions/base.py``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, root: Path = SOURCE) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path, root: Path = SOURCE) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` for each montemap import in ``path``: the module
    relative to ``montemap``, and the imported name when it is not a module."""
    found: list[tuple[int, str, str | None]] = []
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("montemap."):
                    found.append((node.lineno, alias.name.removeprefix("montemap."), None))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = [*package[: len(package) - node.level + 1], node.module or ""]
                target = ".".join(base).strip(".")
            elif node.module == "montemap" or (node.module or "").startswith("montemap."):
                target = (node.module or "").removeprefix("montemap").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".lstrip(".")
                if _is_module(sub, root):
                    found.append((node.lineno, sub, None))
                else:
                    found.append((node.lineno, target, alias.name))
    return found


def _rule(module: str) -> tuple[str, frozenset[str]]:
    """The most specific :data:`ALLOWED` key for ``module``, and its list."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in ALLOWED:
            return key, ALLOWED[key]
    raise AssertionError(f"{module}: no dependency rule; add its package to ALLOWED")


def _within(target: str, allowed: str) -> bool:
    return target == allowed or target.startswith(allowed + ".")


def _permitted(target: str, package: str, allowed: frozenset[str]) -> bool:
    """Whether ``package`` may import ``target`` (``""`` is ``montemap`` itself)."""
    if not target or _within(target, package):
        return True
    return any(_within(target, ok) for ok in allowed | FOUNDATION)


def forbidden_edges(root: Path = SOURCE) -> list[str]:
    """Every import under ``root`` that breaks its rule, as ``file:line imports name (why)``."""
    edges: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        package = module.split(".")[0]
        key, allowed = _rule(module)
        banned = FORBIDDEN_NAMES.get(package, frozenset())
        for line, target, name in imports(path, root):
            shown = ".".join(part for part in ("montemap", target, name) if part)
            where = f"{path.relative_to(root)}:{line}"
            if name is not None and f"{target}.{name}" in banned:
                edges.append(f"{where} imports {shown} (banned in {package})")
            elif not _permitted(target, package, allowed):
                edges.append(f"{where} imports {shown} ({key} may not import it)")
    return edges


def test_every_import_follows_its_package_rule() -> None:
    edges = forbidden_edges()
    assert not edges, "forbidden imports:\n" + "\n".join(edges)


def test_every_package_has_a_rule() -> None:
    packages = {module_name(path).split(".")[0] for path in SOURCE.rglob("*.py")}
    missing = sorted(packages - ALLOWED.keys())
    assert not missing, f"packages without a dependency rule: {missing}"


def test_the_rules_name_real_modules() -> None:
    named = {name for rule in ALLOWED.values() for name in rule} | ALLOWED.keys()
    unknown = sorted(name for name in named if not _is_module(name))
    assert not unknown, f"rules name modules that do not exist: {unknown}"


def test_a_forbidden_edge_is_named_with_its_line(tmp_path: Path) -> None:
    """The checker itself, on a small tree: each bad edge is named, the good ones pass."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "api").mkdir()
    (tmp_path / "errors.py").write_text("")
    (tmp_path / "api" / "__init__.py").write_text("")
    (tmp_path / "api" / "app.py").write_text("from montemap.engine import run\n")
    (tmp_path / "engine" / "__init__.py").write_text("")
    (tmp_path / "engine" / "run.py").write_text(
        "import json\n"
        "from montemap.errors import StatesError\n"
        "from . import steps\n"
        "from montemap.api.app import Dispatcher\n"
        "from montemap.errors import ApiError\n"
    )
    (tmp_path / "engine" / "steps.py").write_text("")
    assert forbidden_edges(tmp_path) == [
        "engine/run.py:4 imports montemap.api.app.Dispatcher (engine may not import it)",
        "engine/run.py:5 imports montemap.errors.ApiError (banned in engine)",
    ]
