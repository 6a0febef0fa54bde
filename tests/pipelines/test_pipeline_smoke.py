"""The training half of the pipeline end to end on the smoke profile (fixture `smoke_run`: every stage's
command line from dvc.yaml, base_model → sft → dpo → round2 → evaluate → export, on literal datasets)."""

from __future__ import annotations

import json
import math

import torch
from safetensors.torch import load_file

from pipelines.train_utils import file_digest


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_training_changes_the_adapters_and_losses_are_finite(smoke_run):
    sft = load_file(smoke_run / "models/sft/adapter_model.safetensors")
    dpo = load_file(smoke_run / "models/dpo/adapter_model.safetensors")
    lora_b = [k for k in sft if "lora_B" in k]
    assert lora_b, sorted(sft)[:5]
    # PEFT initialises lora_B to zero: non-zero means SFT moved it; DPO moved it again.
    assert all(sft[k].abs().sum() > 0 for k in lora_b)
    assert sft.keys() == dpo.keys()
    assert any(not torch.equal(sft[k], dpo[k]) for k in sft)
    round2 = load_file(smoke_run / "models/round2/adapter_model.safetensors")
    assert round2.keys() == dpo.keys() and any(not torch.equal(dpo[k], round2[k]) for k in dpo)
    for stage in ("sft", "dpo", "round2"):
        metrics = _json(smoke_run / f"metrics/{stage}.json")
        curve = _json(smoke_run / f"plots/{stage}.json")
        assert metrics["steps"] >= 2 and metrics["tokens_per_second"] > 0
        assert curve and all(math.isfinite(r["loss"]) for r in curve)
        assert math.isfinite(metrics["train_loss"])


def test_evaluate_scores_three_models(smoke_run):
    metrics = _json(smoke_run / "metrics/evaluate.json")
    assert set(metrics) == {"base", "sft", "dpo"}
    for m in metrics.values():
        assert m["cases"] == 6 and 0 <= m["valid_tool_call_rate"] <= 1
    assert (smoke_run / "plots/evaluate.png").stat().st_size > 1000
    rows = [json.loads(line) for line in (smoke_run / "reports/evaluate/dpo.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all("output" in r for r in rows)


def test_mlflow_holds_the_grouped_runs_with_lineage(smoke_run):
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{smoke_run / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("zapvendas").experiment_id])
    by_stage = {r.data.tags["zapvendas.stage"]: r for r in runs}
    assert set(by_stage) == {"pipeline", "sft", "dpo", "round2", "evaluate", "export"}
    parent = by_stage["pipeline"].info.run_id
    data_md5 = file_digest(smoke_run / "data/processed/datasets/sft")
    for stage in ("sft", "dpo", "round2", "evaluate", "export"):
        run = by_stage[stage]
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.tags["zapvendas.pipeline_run"] == parent
        assert len(run.data.tags["git.commit"]) == 40
        assert run.data.tags["zapvendas.profile"] == "smoke"
        assert "lineage.base.md5" in run.data.tags
        # no DVC experiment (a plain run): the baseline is HEAD, the diff against it the smoke profile
        assert "dvc.exp_name" not in run.data.tags and run.data.tags["dvc.baseline_rev"] == run.data.tags["git.commit"]
        assert json.loads(run.data.tags["dvc.params_diff"])["profile"] == ["cpu", "smoke"]
    assert by_stage["pipeline"].info.run_name.endswith("@" + by_stage["sft"].data.tags["git.commit"][:7])
    assert by_stage["sft"].data.tags["lineage.data.md5"] == data_md5
    # each preference round names its parent adapter and its pairs
    round2 = by_stage["round2"].data.tags
    assert round2["lineage.parent_adapter.path"].endswith("models/dpo")
    assert round2["lineage.data.md5"] == file_digest(smoke_run / "data/processed/outcome_pairs")
    assert round2["lineage.mix.md5"] == file_digest(smoke_run / "data/processed/datasets/preference")
    assert by_stage["dpo"].data.tags["lineage.parent_adapter.path"].endswith("models/sft")
    assert by_stage["round2"].data.tags["zapvendas.upstream_run"] == by_stage["dpo"].info.run_id
    sft = by_stage["sft"]
    assert sft.data.params["params.profile"] == "smoke" and sft.data.params["recipe.assistant_only_loss"] == "True"
    assert {"loss", "learning_rate", "grad_norm", "tokens_per_second", "peak_rss_mb"} <= set(sft.data.metrics)
    assert len(client.get_metric_history(sft.info.run_id, "loss")) >= 2
    artifacts = {a.path for a in client.list_artifacts(sft.info.run_id)}
    assert {"adapter", "chat_template.jinja", "recipe.json"} <= artifacts
    assert by_stage["evaluate"].data.metrics["dpo.cases"] == 6
    assert by_stage["export"].data.metrics["merge_identical"] == 1.0
