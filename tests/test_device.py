"""``--device`` on every model-running command, and the device and provider choice behind it.

This machine's torch is a CPU-only build, so ``--device cuda`` must be one clear line and a
non-zero exit everywhere; the CUDA branches of :func:`resolve_device` and
:func:`onnx_providers` are checked with torch's and onnxruntime's answers patched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from actionlab.cli import app
from actionlab.errors import InputError
from actionlab.runtime import onnx_providers, resolve_device

sys.path.insert(0, str(Path(__file__).parent / "infer"))
sys.path.insert(0, str(Path(__file__).parent / "train"))

from _infer_fakes import write_video  # noqa: E402
from train_helpers import fake_cache  # noqa: E402

CPU_ONLY = torch.version.cuda is None


# ---------------------------------------------------------------------- resolve_device


def test_auto_and_cpu_resolve_here() -> None:
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device(None).type == want
    assert resolve_device("CPU") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda:x", "cuda:-1", "tpu:0", ""])
def test_unknown_devices_are_refused(name: str) -> None:
    if name == "":  # empty means auto, as None does
        assert resolve_device(name).type in ("cpu", "cuda")
        return
    with pytest.raises(InputError, match="not a device; use auto, cpu, cuda or cuda:N"):
        resolve_device(name)


@pytest.mark.skipif(not CPU_ONLY, reason="this build has CUDA")
def test_cuda_on_a_cpu_only_build_says_so() -> None:
    with pytest.raises(InputError) as exc:
        resolve_device("cuda:0", "train.device")
    msg = str(exc.value)
    assert msg.startswith("train.device 'cuda:0': CUDA is not available (this PyTorch build is "
                          "CPU-only; install a CUDA build (README, GPU))")
    assert "use train.device cpu or auto" in msg and "\n" not in msg


def test_cuda_indices_with_two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)  # torchrun rank 1
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(InputError, match=r"--device 'cuda:2': only 2 CUDA device\(s\) here, cuda:0 to cuda:1"):
        resolve_device("cuda:2")


# ---------------------------------------------------------------------- onnxruntime providers


def _fake_ort(monkeypatch: pytest.MonkeyPatch, providers: list[str], gpu: bool) -> None:
    import onnxruntime as ort

    import actionlab.runtime as rt

    monkeypatch.setattr(ort, "get_available_providers", lambda: providers)
    monkeypatch.setattr(rt, "_gpu_visible", lambda: gpu)


def test_providers_follow_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    _fake_ort(monkeypatch, both, gpu=True)
    assert onnx_providers("auto") == both
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert onnx_providers("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}),
                                        "CPUExecutionProvider"]
    _fake_ort(monkeypatch, both, gpu=False)  # onnxruntime-gpu installed, no GPU
    assert onnx_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(InputError, match="no usable CUDA provider"):
        onnx_providers("cuda")
    _fake_ort(monkeypatch, ["CPUExecutionProvider"], gpu=True)  # plain onnxruntime, a GPU
    assert onnx_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(InputError, match="not a device"):
        onnx_providers("gpu")


# ---------------------------------------------------------------------- every command


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real frame model trained through ``actionlab train --device cpu`` on a tiny cache,
    and a video to run it on."""
    root = tmp_path_factory.mktemp("device")
    cache = fake_cache(root / "cache", size=16)
    cfg = root / "exp.yaml"
    cfg.write_text(
        "data: {kind: frame, size: [16, 16], batch_size: 4}\n"
        "model: {name: resnetlike, kwargs: {width: 0.25, input_size: 16, head_grid: 4}}\n"
        "train: {epochs: 1, progress: false, log: [csv]}\n")
    res = CliRunner().invoke(app, ["train", str(cfg), f"data.cache_dir={cache}",
                                   f"train.out_dir={root}/runs", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    run = Path(res.output.strip().splitlines()[-1])
    assert (run / "config.yaml").read_text().count("device: cpu") == 1  # --device overrode it
    return {"root": root, "run": run, "ckpt": run / "best.safetensors",
            "video": write_video(root / "clip.mp4", frames=24, size=(32, 24))}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _commands(t: dict[str, Path]) -> dict[str, list[str]]:
    root, ckpt, video = t["root"], str(t["ckpt"]), str(t["video"])
    return {
        "evaluate": ["evaluate", ckpt, "--out", f"{root}/eval.json"],
        "predict": ["predict", ckpt, video, "--json", "--clips", "1"],
        "timeline": ["timeline", ckpt, video, "--out", f"{root}/tl", "--no-video", "--no-fast"],
        "explain": ["explain", ckpt, video, "--out", f"{root}/ex", "--no-tsne"],
        "export": ["export", ckpt, "--onnx", f"{root}/m.onnx"],
        "serve": ["serve", ckpt, "--port", str(_free_port())],
    }


def test_every_command_runs_with_device_cpu(trained: dict[str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served = []  # serve loads the model and builds the app, then its server would block
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(self))
    for name, args in _commands(trained).items():
        res = CliRunner().invoke(app, [*args, "--device", "cpu"])
        assert res.exit_code == 0, (name, res.output)
    assert len(served) == 1
    assert (trained["root"] / "eval.json").is_file() and (trained["root"] / "m.onnx").is_file()
    assert (trained["root"] / "tl" / "timeline.json").is_file()


@pytest.mark.skipif(not CPU_ONLY, reason="this build has CUDA")
def test_cuda_on_this_build_is_one_line_from_the_console_script(trained: dict[str, Path]) -> None:
    exe = Path(sys.executable).with_name("actionlab")
    res = subprocess.run([str(exe), "train", str(trained["run"] / "config.yaml"), "--device",
                          "cuda"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()  # nothing else on stderr: no log line, no traceback
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: --device 'cuda': CUDA is not available (this PyTorch "
                               "build is CPU-only")


@pytest.mark.skipif(not CPU_ONLY, reason="this build has CUDA")
@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "timeline", "explain",
                                     "export", "serve", "crossval"])
def test_cuda_on_this_build_is_one_line(trained: dict[str, Path], command: str,
                                        tmp_path: Path, actionlab) -> None:
    """Every command, through the console entry point in this process (a process each cost
    3 s of start-up; the test above runs the real console script once)."""
    from cli_run import refused

    if command == "train":
        args = ["train", str(trained["run"] / "config.yaml")]
    elif command == "crossval":
        args = ["crossval", str(trained["run"] / "config.yaml"), "--out", str(tmp_path / "cv")]
    else:
        args = _commands(trained)[command]
    line = refused(actionlab(*args, "--device", "cuda"), code=2)
    assert line.startswith("error: --device 'cuda': CUDA is not available (this PyTorch "
                           "build is CPU-only")
    assert not (tmp_path / "cv").exists()
