"""ARC scoring on a small ARC-format file written here and the tiny GPT-2 of conftest, against a plain,
unbatched computation of the same definitions (harness prompt, ``_encode_pair`` split, summed
continuation log-probabilities, the three decision rules)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from avalanche_llm.behaviour.arc import (
    PROMPT_TEMPLATE,
    TARGET_DELIMITER,
    ArcItem,
    ChoiceScore,
    accuracy,
    decide,
    encode_request,
    load_arc_items,
    per_item_rows,
    require_causal_lm,
    score_choices,
)
from avalanche_llm.config import ModelSettings, RuntimeSettings
from avalanche_llm.model.loader import load_model
from runlab.errors import ConfigError, ExitCode

from tests.support.arc import arc_records, write_jsonl, write_parquet

CPU = torch.device("cpu")

@pytest.fixture(scope="module")
def tiny(tiny_gpt2: Path):
    return load_model(ModelSettings(str(tiny_gpt2), None, 4), RuntimeSettings("cpu", "fp32"))


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[ArcItem]:
    return load_arc_items(write_parquet(tmp_path_factory.mktemp("arc") / "test.parquet", arc_records()))


def plain_score(model, tokenizer, question: str, choice: str, max_length: int | None = None) -> tuple[float, bool]:
    """One request, unbatched: the harness's split of the encoding of prompt + " " + choice, one forward
    of the (left-truncated) tokens, float64 log-softmax, the continuation tokens' log-probabilities summed."""
    context = f"Question: {question}\nAnswer:"
    whole = tokenizer(context + " " + choice, add_special_tokens=False)["input_ids"]
    n_context = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    continuation = whole[n_context:]
    kept = whole if max_length is None else whole[-(max_length + 1):]
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=torch.tensor([kept])).logits[0].double(), dim=-1)
    first = len(kept) - len(continuation)  # position of the first continuation token in ``kept``
    total, greedy = 0.0, True
    for offset, token in enumerate(continuation):
        row = log_probs[first + offset - 1]
        total += float(row[token])
        greedy &= int(row.argmax()) == token
    return total, greedy


def plain_argmax(values: list[float]) -> int:
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


# ---------------------------------------------------------------- loading


def test_parquet_and_jsonl_give_the_same_items(tmp_path: Path, items: list[ArcItem]) -> None:
    from_jsonl = load_arc_items(write_jsonl(tmp_path / "test.jsonl", arc_records()))
    assert from_jsonl == items
    assert len(items) == 12 and sorted({len(item.choices) for item in items}) == [3, 4, 5]
    assert items[2] == ArcItem("NYSEDREGENTS_3", "Which unit measures a temperature?",
                               ("°C", "kilogram", "metre", "second"), ("1", "2", "3", "4"), 0)
    assert items[1].question.endswith("? ") and items[4].answer_index == 1
    assert load_arc_items(tmp_path / "test.jsonl", max_items=5) == items[:5]
    assert load_arc_items(write_parquet(tmp_path / "t.parquet", arc_records()), max_items=3) == items[:3]


@pytest.mark.parametrize(("change", "message"), [
    ({"answerKey": "F"}, r"ARC item 'Mercury_1' \(row 0 of bad\.\w+\): answerKey 'F' is not among its labels"),
    ({"choices": {"text": ["a", "b", "c"], "label": ["A", "B"]}}, "3 choice texts but 2 labels"),
    ({"choices": {"text": ["only"], "label": ["A"]}, "answerKey": "A"}, r"has 1 choice\(s\); give at least two"),
    ({"question": "  "}, "has an empty question"),
])
@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_malformed_items_are_refused_with_one_line(tmp_path: Path, change: dict, message: str, suffix: str) -> None:
    records = arc_records()
    records[0] = {**records[0], **change}
    write = write_parquet if suffix == ".parquet" else write_jsonl
    path = write(tmp_path / f"bad{suffix}", records)
    with pytest.raises(ConfigError, match=message) as raised:
        load_arc_items(path)
    assert raised.value.exit_code == ExitCode.SCHEMA and "\n" not in str(raised.value)


def test_files_of_other_kinds_are_refused(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("id,question\n")
    with pytest.raises(ConfigError, match="neither .parquet nor .jsonl"):
        load_arc_items(tmp_path / "items.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        load_arc_items(tmp_path / "missing.parquet")
    pq.write_table(pa.table({"id": ["x"], "question": ["q"]}), tmp_path / "columns.parquet")
    with pytest.raises(ConfigError, match="lacks column"):
        load_arc_items(tmp_path / "columns.parquet")


# ---------------------------------------------------------------- tokenization and scoring


def test_encode_request_moves_trailing_whitespace_and_adds_no_bos_for_gpt2(tiny) -> None:
    """GPT-2's tokenizer adds no start token (a Llama-style one: test_arc_harness)."""
    tokenizer = tiny.tokenizer
    context = PROMPT_TEMPLATE.format(question="Which gas do plants take in?")
    context_enc, continuation_enc = encode_request(tokenizer, context, TARGET_DELIMITER + "carbon dioxide")
    assert context_enc == tokenizer(context)["input_ids"] == tokenizer(context, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + " carbon dioxide", add_special_tokens=False)["input_ids"]
    assert context_enc + continuation_enc == whole and continuation_enc
    assert tokenizer.bos_token_id not in context_enc
    assert encode_request(tokenizer, context + " ", "carbon dioxide") == (context_enc, continuation_enc)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_scores_equal_a_plain_unbatched_computation(tiny, items: list[ArcItem], batch_size: int) -> None:
    scores = score_choices(tiny.model, tiny.tokenizer, items, batch_size, CPU, tiny.max_positions)
    assert [(s.item_index, s.choice_index) for s in scores] == [
        (i, c) for i, item in enumerate(items) for c in range(len(item.choices))]
    for score in scores:
        item = items[score.item_index]
        choice = item.choices[score.choice_index]
        expected, greedy = plain_score(tiny.model, tiny.tokenizer, item.question, choice)
        assert score.loglik == pytest.approx(expected, abs=1e-4)
        assert score.is_greedy == greedy
        assert score.n_tokens == len(encode_request(tiny.tokenizer, PROMPT_TEMPLATE.format(question=item.question),
                                                    " " + choice)[1])
        assert score.loglik < 0


def test_batching_changes_no_decision(tiny, items: list[ArcItem]) -> None:
    one = score_choices(tiny.model, tiny.tokenizer, items, 1, CPU, tiny.max_positions)
    for batch_size in (2, 5, 64):
        many = score_choices(tiny.model, tiny.tokenizer, items, batch_size, CPU, tiny.max_positions)
        assert max(abs(a.loglik - b.loglik) for a, b in zip(one, many)) < 1e-4
        assert decide(items, many) == decide(items, one)


def test_decisions_equal_a_plain_argmax_of_the_three_rules(tiny, items: list[ArcItem]) -> None:
    results = decide(items, score_choices(tiny.model, tiny.tokenizer, items, 4, CPU, tiny.max_positions))
    for item, result in zip(items, results):
        lls = [plain_score(tiny.model, tiny.tokenizer, item.question, choice)[0] for choice in item.choices]
        assert result.pred == plain_argmax(lls)
        assert result.pred_norm == plain_argmax([ll / len(c) for ll, c in zip(lls, item.choices)])
        assert result.pred_bytes == plain_argmax([ll / len(c.encode("utf-8")) for ll, c in zip(lls, item.choices)])
        assert (result.item_id, result.answer_index) == (item.id, item.answer_index)
    scores = accuracy(results)
    assert set(scores) == {"acc", "acc_norm", "acc_bytes"} and all(0.0 <= v <= 1.0 for v in scores.values())


def test_accuracy_is_recomputable_from_the_per_item_rows(tmp_path: Path, tiny, items: list[ArcItem]) -> None:
    scores = score_choices(tiny.model, tiny.tokenizer, items, 8, CPU, tiny.max_positions)
    results = decide(items, scores)
    pq.write_table(pa.Table.from_pylist(per_item_rows(items, scores, results)), tmp_path / "arc_items.parquet")
    rows = pq.read_table(tmp_path / "arc_items.parquet").to_pylist()
    assert len(rows) == sum(len(item.choices) for item in items)
    assert {key: rows[5][key] for key in ("item_id", "item_index", "choice_index", "label")} == {
        "item_id": "Mercury_2", "item_index": 1, "choice_index": 1, "label": "B"}  # item 0 has 4 choices
    by_item: dict[int, list[dict]] = {}
    for row in rows:
        by_item.setdefault(row["item_index"], []).append(row)
    counts = {"acc": 0, "acc_norm": 0, "acc_bytes": 0}
    for choices in by_item.values():
        answer = next(row["choice_index"] for row in choices if row["is_answer"])
        for rule, length in (("acc", None), ("acc_norm", "n_chars"), ("acc_bytes", "n_bytes")):
            values = [row["loglik"] / (row[length] if length else 1) for row in choices]
            counts[rule] += plain_argmax(values) == answer
            chosen = [row["choice_index"] for row in choices if row[f"chosen_{rule}"]]
            assert chosen == [plain_argmax(values)]
    assert accuracy(results) == {rule: count / len(items) for rule, count in counts.items()}
    cafe = next(row for row in rows if row["item_id"] == "MCAS_4" and row["choice_index"] == 0)
    assert (cafe["label"], cafe["n_chars"], cafe["n_bytes"]) == ("A", 10, 12)


def test_left_truncation_keeps_the_last_tokens(tiny, items: list[ArcItem]) -> None:
    max_length = 12
    short = score_choices(tiny.model, tiny.tokenizer, items[:4], 3, CPU, max_length)
    full = score_choices(tiny.model, tiny.tokenizer, items[:4], 3, CPU, tiny.max_positions)
    for score, untruncated in zip(short, full):
        item = items[score.item_index]
        expected, _ = plain_score(tiny.model, tiny.tokenizer, item.question, item.choices[score.choice_index],
                                  max_length=max_length)
        assert score.loglik == pytest.approx(expected, abs=1e-4)
    assert max(abs(a.loglik - b.loglik) for a, b in zip(short, full)) > 1e-3  # the lost context mattered
    with pytest.raises(ConfigError, match=r"choice A: its continuation is \d+ tokens, max_length 1;"):
        score_choices(tiny.model, tiny.tokenizer, [items[0]], 1, CPU, 1)


# ---------------------------------------------------------------- decision rules on hand-made scores


def _scores(logliks: list[float]) -> list[ChoiceScore]:
    return [ChoiceScore(0, index, value, 1, False) for index, value in enumerate(logliks)]


def test_characters_and_bytes_can_pick_different_choices() -> None:
    item = ArcItem("x", "q", ("ééé", "abcd"), ("A", "B"), 0)  # 3 chars / 6 bytes against 4 chars / 4 bytes
    (result,) = decide([item], _scores([-3.3, -4.0]))  # per char -1.1 vs -1.0; per byte -0.55 vs -1.0
    assert (result.pred, result.pred_norm, result.pred_bytes) == (0, 1, 0)
    assert accuracy([result]) == {"acc": 1.0, "acc_norm": 0.0, "acc_bytes": 1.0}


def test_acc_norm_divides_by_the_choice_without_the_delimiter() -> None:
    item = ArcItem("x", "q", ("ab", "abcd"), ("A", "B"), 1)
    (result,) = decide([item], _scores([-2.0, -3.5]))  # -1.0 vs -0.875; with the space: -0.667 vs -0.7
    assert (result.pred, result.pred_norm) == (0, 1)


def test_ties_go_to_the_lowest_choice_index() -> None:
    item = ArcItem("x", "q", ("ab", "cd", "ef"), ("A", "B", "C"), 2)
    (result,) = decide([item], _scores([-1.5, -1.0, -1.0]))
    assert (result.pred, result.pred_norm, result.pred_bytes) == (1, 1, 1)
    with pytest.raises(ValueError, match="exactly once"):
        decide([item], _scores([-1.0, -1.0]))


# ---------------------------------------------------------------- the causal-LM check


def test_a_model_without_a_language_model_head_is_refused(tiny, items: list[ArcItem]) -> None:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=32)).eval()
    with pytest.raises(ConfigError, match="model BertModel has no language-model head; ARC and perplexity need a "
                                          "causal LM; set model.hf_id to a causal model such as GPT-2"):
        require_causal_lm(bert)
    with pytest.raises(ConfigError, match="no language-model head"):
        score_choices(bert, tiny.tokenizer, items[:1], 1, CPU, 32)
    require_causal_lm(tiny.model)
