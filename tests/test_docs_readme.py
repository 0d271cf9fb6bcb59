"""The README is tested against the code: the contract table lists every block of the spec with its
factory's keywords, the Quick start has its two shell blocks, the matrix summary has a column for
every block, and the selftest section quotes the result docs/selftest.json records.
(The walkthrough section: test_docs_walkthrough.py.)"""

import json
import re

from conftest import ROOT, run_pytest
from conformance.spec import load_spec

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_contract_table_names_every_block_and_its_keywords():
    rows = dict(re.findall(r"^\| [^|]+ \| `(\w+)\(\*, ([^)]*)\)` \|", README, re.M))
    spec = load_spec()
    for block in spec.blocks.values():
        assert block.factory in rows, f"the README's contract table has no {block.factory}(...)"
        assert [k.strip() for k in rows[block.factory].split(",")] == [p.name for p in block.params], block.name


def test_the_quick_start_has_two_shell_blocks():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"^```sh$", quick, re.M)) == 2


def test_the_matrix_summary_has_a_column_for_every_block_and_is_the_committed_certificates():
    """The README's summary is the committed matrix's (`attncert matrix certificates --summary`)."""
    section = README.split("## The libraries, certified", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| implementation |"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == list(load_spec().blocks)
    matrix = (ROOT / "docs" / "conformance-matrix.md").read_text()
    table = matrix.split("## Summary", 1)[1].split("\n## ", 1)[0].split("| implementation |", 1)[1]
    assert "| implementation |" + table.rstrip() in section


def test_the_selftest_section_shows_the_latest_full_result():
    """The kill rate the README quotes is the one docs/selftest.json records."""
    result = json.loads((ROOT / "docs" / "selftest.json").read_text())
    section = README.split("## The harness's own strength", 1)[1].split("\n## ", 1)[0]
    assert f"{result['mutants']} mutants" in section
    assert f"{100 * result['kill_rate']:.1f} %" in section


def test_the_python_example_runs_as_written_beside_the_readmes_mine_py(tmp_path):
    """The README's `mine.py` (Certify your own implementation) and its `test_mine.py` (From Python),
    copied as they are into a project of their own, pass under pytest."""
    own = README.split("## Certify your own implementation", 1)[1]
    mine = re.search(r"```python\n# impl/mine.py\n(.*?)```", own, re.S).group(1)
    test = re.search(r"```python\n# test_mine.py\n(.*?)```", own, re.S).group(1)
    (tmp_path / "mine.py").write_text(mine)
    (tmp_path / "test_mine.py").write_text(test)
    done = run_pytest("-q", "test_mine.py", cwd=tmp_path, own_rootdir=True, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    passed = int(re.search(r"(\d+) passed", done.stdout).group(1))
    assert passed > 15, done.stdout  # the deployed certificate and one test per clause
