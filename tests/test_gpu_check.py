"""osmcaa-reid bench gpu: its CPU smoke test (tiny sizes, GPU parts skipped), --help, re-ranking's comparison."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reid.cli.main import main as cli
from reid.studies import gpu_check

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--device", "cpu", "--iterations", "2", "--height", "32", "--width", "16", "--backbone", "resnet18",
         "--preset", "tiny", "--identities", "3", "--instances", "2", "--workers", "0",
         "data.seq_len=2", "data.test_seq_len=2", "data.test_max_frames=4"]


def test_the_cpu_smoke_test_trains_both_precisions_and_skips_the_gpu_parts(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert cli(["bench", "gpu", *SMOKE, "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    assert report["device_type"] == "cpu" and report["device"] and report["problems"] == []
    assert report["settings"]["backbone"] == "resnet18" and report["settings"]["height"] == 32
    for precision in ("fp16", "fp32"):
        train, extract = report["train"][precision], report["extract"][precision]
        assert train["iterations"] == 2 and train["all_losses_finite"] and train["skipped_for_the_loss"] == 0
        assert train["losses_logged"] + train["skipped_steps"] == 2  # fp16 may skip while its scaler calibrates
        assert train["iterations_per_s"] > 0 and train["peak_gpu_memory_mib"] is None
        assert extract["frames"] > 0 and extract["frames_per_s"] > 0 and extract["features_finite"]
    assert report["train"]["fp16"]["final_grad_scale"] > 0 and report["train"]["fp32"]["final_grad_scale"] is None
    assert report["train"]["fp32"]["losses_logged"] == 2
    for part in ("rerank", "torchrun_nccl"):
        assert report[part] == {"skipped": "skipped: no CUDA (--device cpu)"}


def test_rerank_check_compares_two_devices_exactly_when_both_are_the_cpu():
    result = gpu_check.rerank_check(30, 70, 16, torch.device("cpu"))
    assert result["max_abs_difference"] == 0.0 and result["same_top1"] == 1.0
    assert result["where"]["neighbour sets, weights, Jaccard"] == "cpu"


def test_help_and_a_missing_gpu(capsys):
    with pytest.raises(SystemExit) as info:
        cli(["bench", "gpu", "--help"])
    assert info.value.code == 0 and "--iterations" in capsys.readouterr().out
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as info:
            cli(["bench", "gpu", "--device", "cuda"])
        assert info.value.code == 2 and "--device cpu for a smoke test" in capsys.readouterr().err
    script = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--help"], capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120, check=False)
    assert script.returncode == 0 and "osmcaa-reid bench gpu" in script.stdout
