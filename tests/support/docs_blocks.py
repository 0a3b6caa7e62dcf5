"""The code blocks of the README and of ``docs/`` (no tests here): what ``tests/end_to_end/test_docs.py`` runs.

A block is a fenced block (```` ```python ````, ```` ```bash ````, ```` ```console ````, ...). A
comment on the line before it says how it is checked, when it is not simply run:

- ``<!-- docs-test: file NAME -->``: the block is the file ``NAME`` (later blocks of the page use it);
- ``<!-- docs-test: mirrored by PATH [and PATH...] -->``: a test file (or ``.ci/run``) runs what the
  block shows; it must name the page and each of the block's ``pynamodb-tables``, ``./dev`` and
  ``pytest`` commands (a Python block: each function it calls).
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

REPOSITORY = Path(__file__).resolve().parent.parent.parent
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- docs-test: (file|mirrored by) (.+?) -->$")


@dataclass(frozen=True)
class Block:
    page: str  # README.md, docs/x.md
    line: int  # of the opening fence
    language: str
    text: str
    how: Optional[str] = None  # "file", "mirrored by" or None (run)
    target: str = ""  # the file's name, or the mirrors

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.language})"

    def mirrors(self) -> List[str]:
        return [each.strip() for each in self.target.split(" and ")] if self.how == "mirrored by" else []


def pages() -> List[Path]:
    return [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]


def blocks_of(path: Path) -> List[Block]:
    lines = path.read_text().splitlines()
    found: List[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        marker = MARKER.match(lines[index - 1]) if index else None
        how, target = (marker.group(1), marker.group(2)) if marker else (None, "")
        found.append(Block(str(path.relative_to(REPOSITORY)), index + 1, opening.group(1), "\n".join(
            lines[index + 1:end]) + "\n", how, target))
        index = end + 1
    return found


def all_blocks() -> List[Block]:
    return [block for page in pages() for block in blocks_of(page)]


def files_of(page: str) -> List[Tuple[str, str]]:
    """The (name, text) of each file block of ``page``, in order."""
    return [(b.target, b.text) for b in blocks_of(REPOSITORY / page) if b.how == "file"]


def commands_of(block: Block) -> List[List[str]]:
    """The ``pynamodb-tables``, ``./dev`` and ``pytest`` commands a shell block shows, as words (up to a pipe or
    redirect)."""
    commands = []
    for line in block.text.splitlines():
        line = line[2:] if line.startswith("$ ") else line if block.language == "bash" else ""
        words = re.split(r"\s+", re.split(r"\s[|>]", line)[0].strip())
        if words and words[0] in ("pynamodb-tables", "./dev", "pytest"):
            commands.append(words)
    return commands
