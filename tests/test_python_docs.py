"""docs/python.md's tour runs as written: its ```python blocks, in order, in one namespace."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "infer"))

import _infer_fakes  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = DOCS.parent / "README.md"
SKIP = "# not run by the test"


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, those marked as not run left out."""
    blocks = re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)
    return [b for b in blocks if not b.startswith(SKIP)]


@pytest.fixture
def tiny_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working folder with a tiny run at runs/demo."""
    monkeypatch.chdir(tmp_path)
    run = Path("runs") / "demo"
    run.mkdir(parents=True)
    _infer_fakes.registry_checkpoint(run / "best.safetensors")
    (run / "run.json").write_text(json.dumps({"status": "complete",
                                              "model_file": "best.safetensors"}))
    return run


def test_python_md_runs(tiny_run: Path) -> None:
    blocks = python_blocks(DOCS / "python.md")
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOCS / "python.md"), "exec"), namespace)  # noqa: S102


def test_readme_example_runs(tiny_run: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python"):]
    block = python_blocks_in(section)[0]
    assert len(block.strip().splitlines()) <= 5
    demo_run = Path("runs/demo/runs/flow")  # where ./dev demo leaves its flow stream
    moved = tiny_run.rename("a_run")
    demo_run.parent.mkdir(parents=True)
    moved.rename(demo_run)
    _infer_fakes.write_video(Path("clip.mp4"))
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102
    assert Path("flow.onnx").is_file()


def python_blocks_in(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
