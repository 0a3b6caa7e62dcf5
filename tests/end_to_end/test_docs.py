"""Every code block of the README and of ``docs/`` runs in CI, and the README reads as a newcomer's path.

Blocks are found by ``tests/docs_blocks.py``: a block marked as a file is written for the page's
other blocks; a block marked as mirrored is run by the test file it names, which names the page and
each command of the block (checked here); every other shell or Python block is run here, in a
folder of its own, on DynamoDB Local with fresh tables that ``JOB_TABLE``, ``REGION_REQUEST_TABLE``
and ``AWS_ENDPOINT_URL_DYNAMODB`` name.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from pynamodb_tables.testing import create_tables
from tests.support.docs_blocks import REPOSITORY, Block, all_blocks, blocks_of, commands_of, pages

CODE = ("python", "bash", "console")
OUTPUT = ("text", "json")
BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.language in CODE and b.how is None]
MIRRORED = [b for b in BLOCKS if b.how == "mirrored by"]


def test_every_block_is_code_that_runs_or_output() -> None:
    assert BLOCKS
    unlabelled = [str(b) for b in BLOCKS if b.language not in CODE + OUTPUT]
    assert unlabelled == []  # every block says what it is
    files = [b for b in BLOCKS if b.how == "file"]
    assert all(b.language == "python" for b in files)
    for page in {b.page for b in files}:  # a page's files are used by a block that runs or is mirrored
        assert any(b.page == page and b.how != "file" and b.language in CODE for b in BLOCKS), page


@pytest.mark.parametrize("block", MIRRORED, ids=str)
def test_a_mirrored_block_is_run_by_the_test_it_names(block: Block) -> None:
    mirrors = [(REPOSITORY / name).read_text() for name in block.mirrors()]
    assert mirrors
    named = " ".join(text for name, text in zip(block.mirrors(), mirrors) if name.startswith("tests/"))
    assert block.page in named or not named, f"{block.mirrors()} do not name {block.page}"
    every = "\n".join(mirrors)
    for words in commands_of(block):
        words = words[1:] if words[0] == "pynamodb-tables" else words
        quoted = [", ".join(f'"{word}"' for word in part) for part in (words, words[:1], words[1:])]
        assert (quoted[0] in every or " ".join(words) in every or all(q in every for q in quoted[1:])), \
            f"{block}: {' '.join(words)} is run by none of them"  # whole, or the command and its options apart
    if block.language == "python":
        for called in set(re.findall(r"\.?(\w+)\(", block.text)):
            assert f"{called}(" in every, f"{block}: {called}() is called by none of them"


@pytest.fixture(scope="module")
def docs_env(dynamodb_local: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    yield env


def run_block(block: Block, folder: Path, env: Dict[str, str]) -> Tuple[int, str]:
    if block.language == "python":
        script = folder / f"block_{block.line}.py"
        script.write_text(block.text)
        command = [sys.executable, str(script)]
    else:
        text = "\n".join(line[2:] for line in block.text.splitlines() if line.startswith("$ ")) \
            if block.language == "console" else block.text
        command = ["bash", "-euo", "pipefail", "-c", text]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.dynamodb_local
@pytest.mark.parametrize("block", RUN, ids=str)
def test_a_block_runs(block: Block, docs_env: Dict[str, str], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in docs_env.items():
        monkeypatch.setenv(name, value)
    jobs, regions = create_tables(docs_env["AWS_ENDPOINT_URL_DYNAMODB"])
    env = dict(docs_env, JOB_TABLE=jobs.table_name, REGION_REQUEST_TABLE=regions.table_name,
               PYTHONPATH=str(tmp_path))
    try:
        for earlier in blocks_of(REPOSITORY / block.page):
            if earlier.how == "file" and earlier.line < block.line:
                (tmp_path / earlier.target).write_text(earlier.text)
        code, output = run_block(block, tmp_path, env)
        assert code == 0, f"{block}:\n{block.text}\n{output}"
    finally:
        for table in (jobs, regions):
            table.model.delete_table()


# --- the README: a newcomer's path -----------------------------------------------------------------------

README = (REPOSITORY / "README.md").read_text()


def test_the_first_screen_says_what_it_is_and_for_whom_then_the_two_commands() -> None:
    first = README.split("\n## ")[0]
    opening = first.split("```")[0]
    assert "is the persistence layer for distributed image-processing workers" in opening
    assert "It is for the developers of such" in opening and "and for the operators" in opening
    assert first.split("```bash\n")[1].split("```")[0] == "./dev demo\n./dev test\n"
    assert len(first.splitlines()) <= 35


def test_the_path_goes_worker_operator_testing_then_depth() -> None:
    sections = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert sections == ["A worker's calls", "The operator's script", "Testing your own workers", "In depth"]
    worker = README.split("## A worker's calls")[1].split("\n## ")[0]
    assert "`get_image_request(image_id)` (the stored job; an unknown image\nraises" in worker
    assert "`get_region_request(region_id, image_id)` (the stored region, or `None`" in worker
    for status in ("`STARTED`", "`IN_PROGRESS`", "`SUCCESS`", "`PARTIAL`", "`FAILED`", "`SUCCEEDED`"):
        assert status in worker


def test_the_index_lists_every_page_and_every_link_resolves() -> None:
    index = README.split("## In depth")[1]
    listed = re.findall(r"\| \[docs/([\w-]+\.md)\]", index)
    assert sorted(listed) == sorted(p.name for p in (REPOSITORY / "docs").glob("*.md"))
    for page in pages():
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_words_are_defined_before_they_are_used() -> None:
    everything = "\n".join(page.read_text() for page in pages())
    assert re.search(r"\bseeds?\b", everything) is None  # the model runner's own code is called that
    contract = README.index("*The contract*")
    assert "contract" not in README[:contract]
