"""``montemap run`` loads the credit workload neither before nor after the execution.

Loading ``montemap.credit``'s numeric stack (NumPy, SciPy, pyarrow) cost the
run command ~0.45 s of CPU before the execution could start, only to read
``portfolio.json`` (now read the way ``generate`` and ``import`` write it),
and again after it, only for the quality lines it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from montemap.credit import gen_commands
from montemap.credit.provenance import PORTFOLIO_FILE, read_provenance
from montemap.workflows.run_command import RunError, read_portfolio_record


def test_the_record_is_the_file_generate_and_import_write(tmp_path: Path) -> None:
    # gen_commands' own name for the file (imported there, not re-exported)
    assert vars(gen_commands)["PORTFOLIO_FILE"] == PORTFOLIO_FILE
    assert read_portfolio_record(tmp_path) is None
    (tmp_path / PORTFOLIO_FILE).write_text(json.dumps({"origin": "imported", "loans": 7}))
    assert read_portfolio_record(tmp_path) == read_provenance(tmp_path)


@pytest.mark.parametrize(
    ("text", "why"), [("{not json", "cannot be read"), ("[1, 2]", "does not hold a JSON object")]
)
def test_a_broken_record_is_one_clear_error(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / PORTFOLIO_FILE).write_text(text)
    with pytest.raises(RunError, match=why) as caught:
        read_portfolio_record(tmp_path)
    assert str(tmp_path / PORTFOLIO_FILE) in str(caught.value)


_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from montemap.cli import parser_for
    from montemap.workflows import run_command
    argv = ["run", "--data-dir", sys.argv[1], "--as-of", "2026-11-27"]
    args = parser_for(argv).parse_args(argv)
    spec = run_command.ensure_portfolio(
        Path(sys.argv[1]), args, run_command._check(args), quiet=True
    )
    print(json.dumps({"loans": spec.loans, "modules": sorted(sys.modules)}))
    """
)


def test_using_an_existing_portfolio_loads_no_credit_module(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inventory = data / "buckets" / "montemap-source" / "inventory"
    inventory.mkdir(parents=True)
    (inventory / "manifest.json").write_text("{}")
    (data / PORTFOLIO_FILE).write_text(json.dumps({"origin": "generated", "loans": 1234}))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["loans"] == 1234
    loaded = [m for m in result["modules"] if m.startswith(("montemap.credit", "scipy", "numpy"))]
    # the (lazy) package, the page-cache rule, the record's reader, the options shared with
    # simulate and the shocks' reader only
    assert loaded == [
        "montemap.credit",
        "montemap.credit.page_cache",
        "montemap.credit.provenance",
        "montemap.credit.run_options",
        "montemap.credit.shock_list",
    ]


def test_the_quality_lines_load_no_numeric_module() -> None:
    probe = (
        "import json, sys; import montemap.credit.quality; print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout)
    assert [m for m in modules if m.split(".")[0] in ("numpy", "scipy", "pyarrow")] == []
