"""``ftb export``: the training set for another trainer (chat JSONL, a ``datasets`` dataset, a manifest),
the manifest checked by the answer-only run, and TRL's ``SFTTrainer`` training from the export."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest

# imported here, before any pytester run: a run's teardown drops the modules first imported inside it,
# and pyarrow (under datasets) refuses to register its types a second time
datasets = pytest.importorskip("datasets")

from pytest_finetunebench import export
from pytest_finetunebench.providers.base import SYSTEM_PROMPT

TEMPLATE = "Answer with the number only.\n{question}"
CASES = [(f"How many bridges did Velmora town number {i} have in 2026?", str(40 + i)) for i in range(10)]


def write_cases(folder: Path, n: int = len(CASES)) -> Path:
    """Ten invented facts, each asked as trained (memorization) and reworded (rephrased)."""
    lines = ["dataset: towns", f"templates:\n  default: {json.dumps(TEMPLATE)}", "cases:"]
    for i, (question, answer) in enumerate(CASES[:n]):
        lines += [
            f"  - id: t{i}",
            f"    question: {question}",
            f'    answer: "{answer}"',
            "    variants:",
            "      - split: rephrased",
            f"        question: In 2026, what was the number of bridges in Velmora town number {i}?",
            f'        answer: "{answer}"',
        ]
    path = folder / "towns.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def exported(pytester) -> Path:
    pytester.makeini("[pytest]\n")
    write_cases(pytester.path)
    assert export.main([str(pytester.path / "out"), "towns.yaml"]) == 0
    return pytester.path / "out"


@pytest.fixture
def exported_here(tmp_path, monkeypatch) -> Path:
    """The export, made without pytester: a test that imports torch must not run inside pytester's
    module snapshot (its teardown drops torch, which cannot be imported a second time)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    write_cases(tmp_path)
    assert export.main([str(tmp_path / "out"), "towns.yaml"]) == 0
    return tmp_path / "out"


def expected_rows() -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": TEMPLATE.format(question=q)},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in CASES
    ]


def test_the_export_is_the_training_set_in_jsonl_and_as_a_messages_dataset(exported, capsys):
    lines = (exported / "train.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == expected_rows()
    assert datasets.load_from_disk(str(exported / "dataset")).to_list() == expected_rows()
    manifest = json.loads((exported / "manifest.json").read_text())
    towns = (exported.parent / "towns.yaml").read_bytes()
    assert {k: manifest[k] for k in ("format", "datasets", "recipe", "system_message", "counts")} == {
        "format": "pytest-finetunebench/training-set",
        "datasets": {"towns": hashlib.sha256(towns).hexdigest()},
        "recipe": "qa",
        "system_message": SYSTEM_PROMPT,
        "counts": {"pairs": 10, "cases": 10},
    }
    rephrased = {"In 2026, what was the number of bridges" in line for line in lines}
    assert rephrased == {False}  # the questions that measure generalization are never trained on


def test_a_held_out_question_that_is_also_trained_on_is_refused(pytester, capsys):
    pytester.makeini("[pytest]\n")
    path = write_cases(pytester.path, 1)
    text = path.read_text().replace(
        "In 2026, what was the number of bridges in Velmora town number 0?", CASES[0][0]
    )  # the rephrased question is the trained one
    path.write_text(text)
    assert export.main([str(pytester.path / "out"), "towns.yaml"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"ftb export: {path}:9: the rephrased question of case t0 is also a training prompt, so it would measure"
        " memorization; fix: reword it or drop it from training"
    )
    assert not (pytester.path / "out").exists()


def test_the_answer_only_run_checks_the_manifest(exported, pytester, monkeypatch):
    pytest.importorskip("openai")
    from conformance import openai_checker
    from emulated import serve

    from pytest_finetunebench.testing import OpenAIEmulator

    emulator = serve(OpenAIEmulator(), monkeypatch, openai_checker())
    emu = next(emulator)
    emu.add_model("my-sft", {TEMPLATE.format(question=q): a for q, a in CASES})
    args = ["--ftb-model=openai:my-sft", f"--ftb-tuned-elsewhere={exported / 'manifest.json'}", "--ftb-record-mode=off"]
    args += ["-p", "no:randomly", "-p", "no:xdist"]
    result = pytester.runpytest("towns.yaml", *args, "-k", "memorization")
    result.assert_outcomes(passed=10)  # trained on the export of these cases: asked, and it knows them
    other = pytester.runpytest("towns.yaml", *args, "--ftb-limit=4")  # not the cases it was exported with
    other.assert_outcomes(failed=8)
    line = (
        f"run error: openai:my-sft was trained on the export in {exported / 'manifest.json'} (10 pairs), but the"
        " selected cases give other pairs here (4 pairs); fix: select the cases it was exported with (the same suite,"
        " --ftb-dataset and --ftb-limit)"
    )
    assert other.outlines.count(line) == 8  # every item says why
    assert emu.count("POST /v1/chat/completions") == 10  # the mismatch asked nothing
    next(emulator, None)


def tiny_chat_model(texts: list[str]) -> tuple[object, object]:
    """A tiny random Llama and a word-level tokenizer with a chat template, built here from ``texts``."""
    import tokenizers
    import torch
    import transformers

    specials = ["[UNK]", "[PAD]", "<|im_start|>", "<|im_end|>"]
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    words = texts + ["system user assistant", SYSTEM_PROMPT]
    core.train_from_iterator(words, tokenizers.trainers.WordLevelTrainer(special_tokens=specials))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config), tokenizer


def sft_trainer(exported: Path, out: Path, callbacks: list, **settings: object) -> object:
    trl = pytest.importorskip("trl")
    rows = datasets.load_from_disk(str(exported / "dataset"))
    model, tokenizer = tiny_chat_model([m["content"] for row in rows for m in row["messages"]])
    config = dict(per_device_train_batch_size=4, learning_rate=1e-2, logging_steps=1, save_strategy="no")
    config |= dict(report_to=[], use_cpu=True, seed=0, **settings)
    args = trl.SFTConfig(output_dir=str(out), **config)
    return trl.SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer, callbacks=callbacks)


def test_sft_trainer_trains_from_the_exported_dataset(exported_here, tmp_path):
    """TRL's SFTTrainer reads the export as it is: a few steps of a tiny Llama."""
    trainer = sft_trainer(exported_here, tmp_path / "sft", [], max_steps=3)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert trainer.state.global_step == 3 and len(losses) == 3 and all(math.isfinite(v) for v in losses)


def test_the_callback_asks_the_suite_after_each_epoch_and_writes_the_run(exported_here, tmp_path):
    """The callback in SFTTrainer's loop: the cases asked after each of 2 epochs, graded, one run page."""
    from pytest_finetunebench.callback import FineTuneBenchCallback

    cases = str(exported_here.parent / "towns.yaml")
    callback = FineTuneBenchCallback(tmp_path / "ftb", [cases, "--ftb-max-new-tokens=4"], label="tiny-sft")
    sft_trainer(exported_here, tmp_path / "sft", [callback], num_train_epochs=2).train()
    run = json.loads((tmp_path / "ftb" / "run.json").read_text())
    stages = [(i["target"], i["split"]) for i in run["items"]]
    assert sorted(set(stages)) == [(f"tiny-sft@epoch:{n}", s) for n in (1, 2) for s in ("memorization", "rephrased")]
    assert len(stages) == 40 and [i for i in run["items"] if i["error"]] == []  # every item answered and graded
    assert run["tuned_elsewhere"]["trained_on"] == "a trainer's loop (FineTuneBenchCallback)"
    assert "tiny-sft: accuracy vs epochs" in (tmp_path / "ftb" / "report.html").read_text()
    assert "| tiny-sft@epoch:2 | towns | memorization | 10 |" in (tmp_path / "ftb" / "report.md").read_text()
    counted = [sum(int(n) for n in re.findall(r"(\d+) (?:passed|failed)", line)) for line in callback.lines]
    assert counted == [20, 20]  # one pytest run an epoch, every item passed or failed (no error, no skip)


def test_an_export_whose_training_text_answers_a_retention_question_is_refused(pytester, capsys):
    """The leakage guard a run applies before training applies to an export too (tests/test_leakage.py's files)."""
    from test_leakage import QUIZ, TOWNS

    pytester.makeini("[pytest]\n")
    (pytester.path / "towns.yaml").write_text(TOWNS)
    (pytester.path / "quiz.yaml").write_text(QUIZ)
    assert export.main([str(pytester.path / "out"), "towns.yaml", "quiz.yaml", "--ftb-recipe=document"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"ftb export: {pytester.path / 'quiz.yaml'}:5: recipe `document` trains on 'What do you know that answers"
        " this? Which river runs through Ostrin? Ostrin lies on the Velmora, two days from Paris, the capital of"
        " France.', which states the answer 'Paris' to 'What is the capital of France?' (retention, asked unseen);"
        " fix: drop or reword that training text or the question"
    )
    assert not (pytester.path / "out").exists()
