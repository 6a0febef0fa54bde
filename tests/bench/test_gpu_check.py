"""bench/gpu_check.py's dry run: the GPU check's code paths (random base of a given shape, the
stages' build_trainer with the profile's recipe, SFT then DPO from its adapter) on the CPU, so the
script cannot rot between the sessions that have a GPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from bench import gpu_check
from tests.pipelines.conftest import REPO, tiny_base  # noqa: F401  (the fixture, re-used as it is)


def test_the_dry_run_trains_sft_then_dpo_and_reports_the_figures(tmp_path, tiny_base):  # noqa: F811
    gpu_check.main(["--dry-run", "--out", str(tmp_path), "--tokenizer", str(tiny_base), "--steps", "3"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["status"] == "ok" and report["profile"] == "smoke" and report["parameters"] > 0
    for stage in ("sft", "dpo"):
        figures = report[stage]
        assert figures["steps"] == 3 and len(figures["losses"]) == 3
        assert all(math.isfinite(x) for x in figures["losses"]) and figures["losses"][-1] < figures["losses"][0]
        assert figures["tokens_per_second"] > 0 and figures["mfu"] is None  # no GPU peak to divide by
    assert (tmp_path / "work/dpo/adapter_config.json").is_file()  # DPO started from the SFT adapter and saved


def test_losses_that_do_not_fall_or_are_not_numbers_fail_the_check():
    gpu_check.check_losses("sft", [2.0, 1.5])
    for bad in ([2.0, 2.5], [float("nan"), 1.0], []):
        with pytest.raises(SystemExit):
            gpu_check.check_losses("sft", bad)


def test_mfu_uses_the_datasheet_peak_of_the_device_named():
    assert gpu_check.peak_flops("NVIDIA H200") == 989e12 and gpu_check.peak_flops("cpu (x86_64)") is None


def test_without_trl_the_script_says_what_is_missing_instead_of_failing_later(tmp_path):
    code = "import sys; sys.modules['trl'] = None; from bench.gpu_check import main; main(sys.argv[1:])"
    result = subprocess.run(
        [sys.executable, "-c", code, "--dry-run", "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode != 0 and "missing ['trl']" in result.stderr
    assert "missing ['trl']" in json.loads((tmp_path / "gpu_check.json").read_text())["status"]
