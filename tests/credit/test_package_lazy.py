"""``montemap.credit`` imports its submodules on first use (PEP 562)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import montemap.credit as credit


def test_every_public_name_resolves_to_its_submodule() -> None:
    for name in credit.__all__:
        value = getattr(credit, name)
        home = importlib.import_module(f"montemap.credit.{credit._MODULE_OF[name]}")
        assert value is getattr(home, name), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        credit.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_a_light_submodule_loads_neither_the_batch_path_nor_scipy() -> None:
    code = (
        "import sys, montemap.credit.quality; "
        "print(sorted(m for m in ('montemap.credit.batch', 'montemap.credit.reduce', 'scipy')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
