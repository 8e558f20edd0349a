"""What only a GPU shows: NCCL joined by a torchrun job of one process, bf16 where the card computes
it, answer models' memory. Skipped without CUDA; ``bench/gpu_check.sh`` runs them (``-m cuda``).

Every model here is a tiny random Llama built in the test (SmolLM2's tokenizer): nothing downloads.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_distributed import PAIRS

from pytest_finetunebench.items import BASE, TUNED
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Endpoint, Prompt, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local import provider as local
from pytest_finetunebench.providers.local.device import pick_device
from pytest_finetunebench.providers.local.precision import native_bf16, resolve
from pytest_finetunebench.store.jobstore import JobStore

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")]

TORCHRUN_ONE = f"{sys.executable} -m torch.distributed.run --standalone --nproc-per-node=1 {{train}}"


def provider(store: Path, **options) -> local.LocalProvider:
    return local.create(RunContext(JobStore(store), {"device": "cuda", **options}))


def test_auto_is_bf16_exactly_where_the_card_computes_it_and_the_index_is_kept():
    device = pick_device("cuda")
    major, minor = torch.cuda.get_device_capability(device)
    assert native_bf16(device) == ((major, minor) >= (8, 0))
    assert resolve("auto", device) == ("bf16" if (major, minor) >= (8, 0) else "fp32")
    last = torch.cuda.device_count() - 1
    assert pick_device(f"cuda:{last}") == torch.device("cuda", last)


@pytest.mark.parametrize("lora, shard", [(4, ""), (0, "fsdp")], ids=["lora-ddp", "full-fsdp"])
def test_a_torchrun_job_of_one_process_joins_nccl_and_keeps_its_rule(tmp_path, llama, monkeypatch, lora, shard):
    """torchrun at one process joins the group anyway (cpu:gloo,cuda:nccl), so one GPU runs every
    collective of a larger job, each judged by NCCL's rule (FTB_NCCL_RULE=1) and by NCCL itself."""
    monkeypatch.setenv("FTB_NCCL_RULE", "1")
    request = TuneRequest(f"local:{llama}", PAIRS, TuneSettings(epochs=2, batch_size=4, seed=3))
    p = provider(tmp_path / "store", lora=lora, shard=shard, launcher=TORCHRUN_ONE)
    endpoint = p.endpoints(request, [TUNED])[TUNED]
    tuned = Path(endpoint.handle).parent
    record = json.loads((tuned / "train.json").read_text())
    assert (record["world_size"], record["device"], record["launcher"]) == (1, "cuda", "launcher")
    checked = json.loads((tuned / "collectives-rank0.json").read_text())
    assert checked["c10d::allreduce_"] >= 8, checked
    assert p.answer(endpoint, [Prompt("a", PAIRS[0].prompt)])[0].text is not None


def test_answer_models_hold_the_generation_dtype_and_give_their_memory_back(tmp_path, llama):
    p = provider(tmp_path / "store", precision="bf16" if native_bf16(pick_device("cuda")) else "fp32")
    endpoint = Endpoint(f"local:{llama}", BASE, str(llama), p.precision, p.generates_in)
    prompts = [Prompt(str(i), f"Code word number {i}?") for i in range(10)]

    def answered_and_evicted() -> tuple[list[str | None], int]:
        """Answers, then the model evicted: what stays allocated on the GPU."""
        texts = [a.text for a in p.answer(endpoint, prompts)]
        p.load(llama, torch.float32)  # one model is kept on a GPU: the generation one goes
        assert len(p.models) == 1
        p.models.evict()
        gc.collect()
        torch.cuda.synchronize()
        return texts, torch.cuda.memory_allocated(p.device)

    model, _ = p.load(llama)
    assert next(model.parameters()).dtype == (p.generation or torch.float32)
    assert not model.training and not any(x.requires_grad for x in model.parameters())
    del model
    first, after_first = answered_and_evicted()  # the first also leaves cuBLAS's workspace
    second, after_second = answered_and_evicted()
    assert second == first  # the same batch shape: the same answers
    assert after_second == after_first  # nothing of the two models stayed
    assert p.generates_in == f"{p.generates_in.split()[0]} in batches of {local.ANSWER_BATCH}"
