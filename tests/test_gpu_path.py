"""The GPU path, checked on a CPU: NCCL's rule over every collective of a training (gloo), the
docs/scaling.md's launcher examples run as printed, and the device, precision and memory decisions a GPU
run takes. What only a GPU can show is in test_cuda.py (skipped here) and bench/gpu_check.sh.

Every model here is a tiny random Llama built in the test (SmolLM2's tokenizer): nothing downloads.
"""

from __future__ import annotations

import gc
import json
import re
import socket
import sys
import weakref
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import torch.distributed as dist
from test_distributed import PAIRS, provider

from pytest_finetunebench.items import TUNED
from pytest_finetunebench.providers.base import ProviderError, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local import dist as local_dist
from pytest_finetunebench.providers.local import score as local_score
from pytest_finetunebench.providers.local.device import pick_device
from pytest_finetunebench.providers.local.precision import resolve
from pytest_finetunebench.providers.local.rule import NcclRule, covers, own_tensors
from pytest_finetunebench.providers.local.train import cpu_copy
from pytest_finetunebench.train import decided_plan

SCALING = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"


def tuned_dir(store: Path, llama: Path, lora: int, lines: list[str] | None = None, **options) -> Path:
    request = TuneRequest(f"local:{llama}", PAIRS, TuneSettings(epochs=2, batch_size=4, seed=3))
    return Path(provider(store, lines, lora=lora, **options).endpoints(request, [TUNED])[TUNED].handle).parent


# -- NCCL's rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lora, shard, expected",
    [
        (4, "", {"c10d::allreduce_", "c10d::broadcast_"}),  # DDP's reducer and its start, World.total
        (0, "", {"c10d::allreduce_", "c10d::broadcast_"}),
        (0, "fsdp", {"c10d::allreduce_", "c10d::_allgather_base_", "c10d::_reduce_scatter_base_"}),
    ],
    ids=["lora", "full", "fsdp"],
)
def test_every_collective_of_a_training_keeps_nccls_rule(tmp_path, llama, monkeypatch, lora, shard, expected):
    """FTB_NCCL_RULE=1: each rank judges every collective it runs (its own, DDP's, FSDP's, the
    saves' gathers and barriers) as a CUDA run's process group would take it, and fails the job at
    the first tensor NCCL would refuse. Checked: World.total as it was (a float64 tensor made with
    no device) fails this test with "NCCL's rule: c10d::allreduce_ was handed a tensor on meta"."""
    monkeypatch.setenv("FTB_NCCL_RULE", "1")
    tuned = tuned_dir(tmp_path / "store", llama, lora, nproc=2, shard=shard)
    checked = [json.loads((tuned / f"collectives-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert checked[0] == checked[1]  # the ranks ran the same collectives
    assert expected <= set(checked[0]), checked[0]
    assert checked[0]["c10d::allreduce_"] >= 2 * 4  # World.total: 4 per step, 2 steps an epoch, 2 epochs
    assert json.loads((tuned / "train.json").read_text())["world_size"] == 2


def test_the_rule_refuses_what_nccl_refuses_and_takes_what_the_backend_string_covers():
    assert covers("nccl") == {"cuda"}
    assert covers("cpu:gloo,cuda:nccl") == {"cpu", "cuda"}
    assert covers("gloo") == {"cpu", "cuda"}
    assert local_dist.backend_string("cuda") == "cpu:gloo,cuda:nccl"
    assert local_dist.backend_string("cpu") == "gloo"
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        with NcclRule(torch.device("cuda", 0), "nccl") as rule, pytest.raises(RuntimeError) as info:
            dist.all_reduce(torch.ones(1))
        assert str(info.value) == (
            "NCCL's rule: c10d::allreduce_ was handed a tensor on cpu; the training device is cuda:0 and the"
            " backend string 'nccl' covers cuda"
        )
        with NcclRule(torch.device("cpu"), local_dist.backend_string("cuda")) as rule:
            dist.all_reduce(torch.ones(1))
            dist.barrier()
        assert rule.checked["c10d::allreduce_"] == 1
    finally:
        dist.destroy_process_group()


def test_under_the_rule_a_tensor_that_names_no_device_is_made_on_meta(monkeypatch):
    """On a CPU the training device is where a tensor without a device lands anyway: under the rule the
    job's own collective tensors are made with meta as the default device, so that one shows."""
    monkeypatch.setenv("FTB_NCCL_RULE", "1")
    with own_tensors():
        forgot, named = torch.tensor([1.0]), torch.tensor([1.0], device="cpu")
    assert (forgot.device.type, named.device.type) == ("meta", "cpu")
    monkeypatch.delenv("FTB_NCCL_RULE")
    with own_tensors():
        assert torch.tensor([1.0]).device.type == "cpu"


def test_a_job_torchrun_started_joins_its_group_with_the_backend_string_and_timeout(monkeypatch):
    """Even alone (one GPU exercises every collective of a larger job), with an explicit timeout;
    a process no launcher started joins nothing."""
    calls = []
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(("init", kw)))
    monkeypatch.setattr(dist, "new_group", lambda **kw: calls.append(("host", kw)) or "host group")
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append(("device", index)))
    monkeypatch.delenv("RANK", raising=False)
    assert local_dist.World.join("cuda") == local_dist.World() and calls == []
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("FTB_DIST_TIMEOUT_MIN", "45")
    world = local_dist.World.join("cuda")
    assert (world.rank, world.size, world.joined, world.main) == (0, 1, True, True)
    assert calls == [
        ("device", 0),
        ("init", {"backend": "cpu:gloo,cuda:nccl", "timeout": local_dist.datetime.timedelta(minutes=45)}),
        ("host", {"backend": "gloo", "timeout": local_dist.SAVE_TIMEOUT}),
    ]
    assert world.device(torch.device("cuda", 3)) == torch.device("cuda", 0)  # a rank's GPU is its local rank
    assert local_dist.World().device(torch.device("cuda", 1)) == torch.device("cuda", 1)  # alone: as asked


def test_a_job_started_alone_is_no_rank_of_a_group_the_session_runs_in(tmp_path, llama, monkeypatch):
    """A session that itself runs as a rank (RANK, WORLD_SIZE set) starts a lone job that joins nothing."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    record = json.loads((tuned_dir(tmp_path / "store", llama, 4) / "train.json").read_text())
    assert (record["world_size"], record["launcher"]) == (1, "process")


# -- the docs/scaling.md's launcher examples --------------------------------------------------------------

SHIM = """#!/bin/sh
# {name} for one machine: drop {name}'s own options, run the command once, here
while [ $# -gt 0 ]; do
  case "$1" in
    -w) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
exec "$@"
"""


def readme_launchers() -> list[str]:
    """Every ``--ftb-launcher='...'`` example in docs/scaling.md, as printed."""
    return re.findall(r"--ftb-launcher='([^']+)'", SCALING.read_text(encoding="utf-8"))


def test_the_readme_has_a_slurm_and_a_pdsh_launcher():
    assert [line.split()[0] for line in readme_launchers()] == ["srun", "pdsh"]


@pytest.mark.parametrize("example", range(2), ids=["srun", "pdsh"])
def test_the_readmes_launcher_examples_start_as_printed(tmp_path, llama, monkeypatch, example):
    """Rendered for one machine with two CPU processes: one node of two processes (not two of
    eight), this host for the rendezvous node, a free port; srun and pdsh are shims that run the
    command once, here. torchrun must start {train}, the rendezvous must form, and the base model,
    outside the job store, is copied into it (every node reads it there)."""
    printed = readme_launchers()[example]
    with socket.socket() as sock:
        sock.bind(("", 0))
        port = sock.getsockname()[1]
    rendered = (
        printed.replace("--nnodes=2", "--nnodes=1")
        .replace("--nproc-per-node=8", "--nproc-per-node=2")
        .replace(":29500", f":{port}")
        .replace("node1:", "$(hostname):")
    )
    assert rendered.count("{train}") == 1 and "--nproc-per-node=2" in rendered and str(port) in rendered
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("srun", "pdsh"):
        (bin_dir / name).write_text(SHIM.format(name=name))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:{__import__('os').environ['PATH']}")
    lines: list[str] = []
    request = TuneRequest(f"local:{llama}", PAIRS, TuneSettings(epochs=2, batch_size=4, seed=3))
    endpoint = provider(tmp_path / "store", lines, lora=4, launcher=rendered).endpoints(request, [TUNED])[TUNED]
    record = json.loads((Path(endpoint.handle).parent / "train.json").read_text())
    assert (record["world_size"], record["launcher"], record["device"]) == (2, "launcher", "cpu")
    assert endpoint.precision == record["precision"]  # what the job resolved on its node
    copies = list((tmp_path / "store" / "local" / "base").iterdir())
    assert len(copies) == 1 and (copies[0] / "config.json").is_file()
    assert f"{llama}: copying into the job store (once), where every node of the job reads it: {copies[0]}" in lines


# -- device and precision ------------------------------------------------------------------------


def fake_gpus(monkeypatch, count: int, capability: tuple[int, int] = (9, 0)) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)


def test_cuda_keeps_its_index_and_xdist_workers_spread_over_the_gpus(monkeypatch):
    fake_gpus(monkeypatch, 4)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw5")
    assert pick_device("cuda") == torch.device("cuda", 1)
    assert pick_device("auto") == torch.device("cuda", 1)
    assert pick_device("cuda:3") == torch.device("cuda", 3)
    with pytest.raises(ProviderError) as info:
        pick_device("cuda:4")
    assert str(info.value) == "--ftb-device=cuda:4: this machine has 4 GPU(s), numbered from 0; fix: --ftb-device=cuda"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert pick_device("cuda") == torch.device("cuda", 0)


@pytest.mark.parametrize("capability, auto", [((7, 0), "fp32"), ((7, 5), "fp32"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_is_bf16_only_on_gpus_that_compute_it_natively(monkeypatch, capability, auto):
    """V100 (7.0) and T4 (7.5) emulate bf16 (torch.cuda.is_bf16_supported() says yes): fp32 there."""
    fake_gpus(monkeypatch, 1, capability)
    assert resolve("auto", torch.device("cuda", 0)) == auto


def test_a_launched_job_resolves_device_and_precision_on_its_own_node(tmp_path, llama, monkeypatch):
    """A session on a login node without GPUs launches GPU training: the job decides (here, on a
    CPU, auto is the CPU), the key says the job decided, and the session says where it answers."""
    plan = provider(tmp_path / "a")._plan(TuneRequest(f"local:{llama}", PAIRS))
    decided = decided_plan(plan, {"device": "cpu", "precision": "fp32"})
    assert (decided.device, decided.precision) == (torch.device("cpu"), "fp32")
    assert decided_plan(plan, None) is plan
    lines: list[str] = []
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the session would answer on it")
    launched = provider(tmp_path / "b", lines, device="cuda", precision=None, launcher="srun {train}")
    assert lines == ["--ftb-device=cuda: not on this machine; the launched jobs train on it, answers run on cpu"]
    assert launched._decide == {"device": "cuda", "precision": "auto"}
    request = TuneRequest(f"local:{llama}", PAIRS)
    assert launched.tuned_key(request) != provider(tmp_path / "b", precision=None).tuned_key(request)
    with pytest.raises(ProviderError) as info:
        provider(tmp_path / "c", device="cuda")
    assert str(info.value) == "--ftb-device=cuda: no cuda device on this machine; fix: --ftb-device=auto or cpu"


# -- memory and the save -------------------------------------------------------------------------


def test_answer_models_load_without_gradients_and_an_evicted_one_is_freed(tmp_path, llama):
    p = provider(tmp_path / "store")
    model, _ = p.load(llama)
    assert not model.training and not any(x.requires_grad for x in model.parameters())
    assert next(model.parameters()).dtype == torch.float32  # a CPU generates in fp32
    gone = weakref.ref(model)
    del model
    p.load(llama, torch.bfloat16)  # a second model: kept (two on a CPU)
    assert gone() is not None and len(p.models) == 2
    p.load(llama, torch.float16)  # a third: the least recently used goes, and its memory with it
    gc.collect()
    assert gone() is None and len(p.models) == 2


def test_a_cpu_copy_shares_no_memory_and_keeps_tied_weights_tied(llama):
    model = transformers.AutoModelForCausalLM.from_pretrained(llama)
    model.lm_head.weight = model.model.embed_tokens.weight
    copy = cpu_copy(model)
    assert copy.lm_head.weight is copy.model.embed_tokens.weight
    for a, b in zip(model.state_dict().values(), copy.state_dict().values()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_fsdp_units_are_the_models_no_split_modules_whatever_their_class_is_called():
    config = transformers.GPT2Config(n_layer=3, n_embd=32, n_head=2, vocab_size=64, n_positions=32)
    model = transformers.GPT2LMHeadModel(config)
    assert [type(m).__name__ for m in local_dist.shard_units(model)] == ["GPT2Block"] * 3


def test_likelihood_scores_do_not_depend_on_the_chunk_of_positions(llama, monkeypatch):
    """The output layer runs on the reply's positions a chunk at a time: any chunk gives the scores."""
    model = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(llama)
    prompts, choices = ["Code word?", "Is water wet?"], [["Zebulon1", "None"], ["Yes", "No", "Maybe so"]]
    whole = local_score.choice_scores(model, tokenizer, torch.device("cpu"), prompts, choices, 64)
    monkeypatch.setattr(local_score, "CHUNK", 3)
    assert [pytest.approx(row, abs=1e-4) for row in whole] == local_score.choice_scores(
        model, tokenizer, torch.device("cpu"), prompts, choices, 64
    )
