"""configs/accelerate/*.yaml: accelerate reads them, they say what their names say, and they launch.

Without GPUs, `accelerate launch --config_file <cfg> --cpu` runs one CPU process (multi-process
CPU runs need MPI): that still makes accelerate load and validate each file and start the
process (tests/pipelines/test_sft.py also launches the real sft stage with the DDP config).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "accelerate"
EXPECTED = {"ddp.yaml": "MULTI_GPU", "fsdp.yaml": "FSDP", "deepspeed_zero3.yaml": "DEEPSPEED"}


def launch(config: str, *command: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ACCELERATE_LOG_LEVEL="error")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(CONFIGS / config),
            "--cpu",
            "--mixed_precision",
            "no",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_reads_the_config(name):
    config = ClusterConfig.from_yaml_file(CONFIGS / name)
    assert config.distributed_type.value == EXPECTED[name]
    assert config.mixed_precision == "bf16" and config.num_machines == 1 and not config.use_cpu
    if name == "fsdp.yaml":
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # export merges a full adapter
    if name == "deepspeed_zero3.yaml":
        assert config.deepspeed_config["zero_stage"] == 3 and config.deepspeed_config["zero3_save_16bit_model"]


def test_only_these_configs_exist():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_launches_a_process(name, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from accelerate import PartialState\ns = PartialState()\nprint('launched', s.num_processes, s.device)\n"
    )
    proc = launch(name, str(probe))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "launched 1 cpu" in proc.stdout
