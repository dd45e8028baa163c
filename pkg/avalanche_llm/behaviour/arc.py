"""ARC (AI2 Reasoning Challenge, Easy and Challenge) multiple-choice accuracy, scored as the
lm-evaluation-harness scores its ``arc_easy`` / ``arc_challenge`` tasks (zero-shot).

Every (item, choice) pair is one log-likelihood request: context ``Question: {question}\\nAnswer:``,
continuation ``" " + choice``. The score of a choice is the summed log-probability of its continuation
tokens given the context. Three decision rules pick one choice per item (ties: the lowest index):

- ``acc``: the largest summed log-likelihood;
- ``acc_norm``: the largest log-likelihood divided by the choice's length in characters;
- ``acc_bytes``: the largest log-likelihood divided by the choice's length in UTF-8 bytes.

The lengths are those of the choice text *without* the delimiter: the harness computes
``completion_len = [len(i) for i in choices]`` (and ``byte_length = [len(i.encode("utf-8")) ...]``
where it has ``acc_bytes``) over ``doc_to_choice(doc)``, the bare ``choices.text``, while the requests
it scores are ``(ctx, f"{target_delimiter}{cont}")`` (``lm_eval/api/task.py``, ``process_results`` and
``construct_requests`` of the multiple-choice output type).

Tokenization follows the harness's ``HFLM._encode_pair``, ``tok_encode`` and ``_loglikelihood_tokens``
with its default ``add_bos_token=None``: trailing whitespace of the context moves onto the continuation;
context and context + continuation are each encoded with the tokenizer's own special tokens (a start
token where the tokenizer adds one, as Llama's do; nothing for GPT-2's), unless the text already begins
with the text of the start token (``bos_token``, else ``eos_token``); the continuation tokens are what
the whole encoding has beyond the context's; the model input is
``(context_enc + continuation_enc)[-(max_length + 1):][:-1]`` (left truncation), and the continuation
is scored at the last ``len(continuation_enc)`` input positions. Requests are batched in order of
descending length with right padding, so every real token keeps its absolute position and, under the
causal mask, never sees a pad: batching changes no score beyond float rounding.

Data: one split of ``allenai/ai2_arc`` in the hub's format (a ``.parquet`` file with columns ``id``,
``question``, ``choices`` {``text``, ``label``}, ``answerKey``), or a ``.jsonl`` file with the same
fields, one item a line; a hub file is fetched by ``avalanche_llm.io.sources.local_data_file``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from runlab import ConfigError

__all__ = [
    "PROMPT_TEMPLATE",
    "TARGET_DELIMITER",
    "ArcItem",
    "ChoiceScore",
    "ItemResult",
    "accuracy",
    "correct_by_item",
    "decide",
    "encode_request",
    "harness_encode",
    "load_arc_items",
    "per_item_rows",
    "require_causal_lm",
    "score_choices",
]

PROMPT_TEMPLATE = "Question: {question}\nAnswer:"  # the harness's arc_easy / arc_challenge doc_to_text
TARGET_DELIMITER = " "  # the harness's default target_delimiter
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")  # as the loader tells a causal model by its class


# ---------------------------------------------------------------- items


@dataclass(frozen=True)
class ArcItem:
    id: str
    question: str
    choices: tuple[str, ...]  # answer texts, without the delimiter
    labels: tuple[str, ...]  # "A".."E" or "1".."5", one per choice
    answer_index: int  # index of answerKey in labels


def load_arc_items(path: Path, max_items: int = 0) -> list[ArcItem]:
    """The items of a hub-format ``.parquet`` or a ``.jsonl`` ARC file, in file order; ``max_items > 0``
    keeps the first ``max_items`` (only those are validated). A malformed item is exit 2."""
    path = Path(path)
    if max_items < 0:
        raise ConfigError(f"max_items is {max_items}", "use 0 (all items) or a positive count")
    if not path.is_file():
        raise ConfigError(f"ARC file {path} does not exist", "point the ARC source at a .parquet or .jsonl file")
    if path.suffix == ".parquet":
        records = _parquet_records(path)
    elif path.suffix == ".jsonl":
        records = _jsonl_records(path, max_items)
    else:
        raise ConfigError(f"ARC file {path.name} is neither .parquet nor .jsonl",
                          "give a split of allenai/ai2_arc as parquet, or jsonl with the same fields")
    if max_items:
        records = records[:max_items]
    items = [_item(record, row, path.name) for row, record in enumerate(records)]
    if not items:
        raise ConfigError(f"ARC file {path} holds no items", "point the ARC source at a non-empty split")
    return items


def _parquet_records(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(f"ARC file {path} is not readable parquet ({type(exc).__name__})",
                          "re-download the split") from exc
    missing = [name for name in ("id", "question", "choices", "answerKey") if name not in table.column_names]
    if missing:
        raise ConfigError(f"ARC file {path.name} lacks column(s) {', '.join(missing)}",
                          "use the hub's format: id, question, choices {text, label}, answerKey")
    return table.select(["id", "question", "choices", "answerKey"]).to_pylist()


def _jsonl_records(path: Path, max_items: int) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"ARC file {path.name}, line {line_number}: not JSON ({exc.msg})",
                                  "write one JSON object per line") from exc
            if not isinstance(record, dict):
                raise ConfigError(f"ARC file {path.name}, line {line_number}: not a JSON object",
                                  "write one JSON object per line")
            records.append(record)
            if max_items and len(records) == max_items:
                break
    return records


def _item(record: dict[str, Any], row: int, file_name: str) -> ArcItem:
    item_id = record.get("id")
    where = f"ARC item {item_id!r} (row {row} of {file_name})"

    def bad(problem: str, fix: str = "fix the item or drop it from the file") -> ConfigError:
        return ConfigError(f"{where}: {problem}", fix)

    if not isinstance(item_id, str) or not item_id:
        raise bad("has no string id")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise bad("has an empty question")
    choices = record.get("choices")
    if not isinstance(choices, dict) or not isinstance(choices.get("text"), list) \
            or not isinstance(choices.get("label"), list):
        raise bad("choices is not {text: [...], label: [...]}")
    texts, labels = choices["text"], choices["label"]
    if len(texts) != len(labels):
        raise bad(f"{len(texts)} choice texts but {len(labels)} labels", "give every choice text one label")
    if len(texts) < 2:
        raise bad(f"has {len(texts)} choice(s)", "give at least two choices")
    if not all(isinstance(text, str) and text for text in texts):
        raise bad("has an empty or non-string choice text (acc_norm divides by its length)")
    if not all(isinstance(label, str) for label in labels) or len(set(labels)) != len(labels):
        raise bad(f"labels {labels} are not distinct strings")
    answer = record.get("answerKey")
    if answer not in labels:
        raise bad(f"answerKey {answer!r} is not among its labels {', '.join(labels)}",
                  "set answerKey to one of the labels")
    return ArcItem(item_id, question, tuple(texts), tuple(labels), labels.index(answer))


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ChoiceScore:
    item_index: int
    choice_index: int
    loglik: float  # summed natural-log probability of the continuation tokens
    n_tokens: int  # continuation tokens scored
    is_greedy: bool  # every continuation token is the argmax of its position's logits


def require_causal_lm(model: torch.nn.Module) -> None:
    """Exit 2 unless ``model`` is a causal language model whose forward returns next-token ``.logits``."""
    name = type(model).__name__
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or not name.endswith(_CAUSAL_SUFFIXES):
        raise ConfigError(f"model {name} has no language-model head; ARC and perplexity need a causal LM",
                          "set model.hf_id to a causal model such as GPT-2")


def harness_encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` as the harness's ``HFLM.tok_encode`` with its defaults: the tokenizer's own
    special tokens (e.g. Llama's start token), none where ``text`` already begins with the text of the
    prefix token (``bos_token_id``, else ``eos_token_id``), so that a start token is never doubled."""
    prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    starts_with_prefix = prefix_id is not None and text.startswith(tokenizer.decode(prefix_id))
    return list(tokenizer.encode(text, add_special_tokens=not starts_with_prefix))


def encode_request(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """``(context_enc, continuation_enc)`` as the harness's ``_encode_pair``: trailing whitespace of the
    context moves onto the continuation; both texts are encoded by ``harness_encode`` (so the context
    starts with the tokenizer's start token where it adds one); the continuation's tokens are those of
    the encoding of ``context + continuation`` beyond the length of the context's encoding."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = harness_encode(tokenizer, context + continuation)
    context_enc = harness_encode(tokenizer, context)
    return context_enc, whole[len(context_enc):]


@dataclass(frozen=True)
class _Request:
    item_index: int
    choice_index: int
    tokens: tuple[int, ...]  # context_enc + continuation_enc
    n_continuation: int


def _requests(tokenizer: Any, items: Sequence[ArcItem], max_length: int) -> list[_Request]:
    requests = []
    for item_index, item in enumerate(items):
        context = PROMPT_TEMPLATE.format(question=item.question)
        for choice_index, choice in enumerate(item.choices):
            context_enc, continuation_enc = encode_request(tokenizer, context, TARGET_DELIMITER + choice)
            if not continuation_enc or len(continuation_enc) > max_length:
                raise ConfigError(f"ARC item {item.id!r}, choice {item.labels[choice_index]}: its continuation "
                                  f"is {len(continuation_enc)} tokens, max_length {max_length}",
                                  "raise max_length (up to the model's positions) or drop the item")
            requests.append(_Request(item_index, choice_index, tuple(context_enc + continuation_enc),
                                     len(continuation_enc)))
    return requests


def score_choices(model: torch.nn.Module, tokenizer: Any, items: Sequence[ArcItem], batch_size: int,
                  device: torch.device, max_length: int) -> list[ChoiceScore]:
    """The log-likelihood of every (item, choice) continuation, in (item, choice) order.

    ``batch_size`` counts requests (one per choice) per forward pass, as the harness's ``--batch_size``;
    ``max_length`` is the most input tokens a request may take (left truncation beyond it). Requests run
    longest first (the harness's order), right-padded, under ``torch.inference_mode``; log-softmax is
    taken in float32 at the continuation positions only.
    """
    require_causal_lm(model)
    if batch_size < 1 or max_length < 1:
        raise ValueError(f"batch_size and max_length must be positive, got {batch_size} and {max_length}")
    requests = _requests(tokenizer, items, max_length)
    order = sorted(range(len(requests)), key=lambda index: (-len(requests[index].tokens), index))
    loglik = np.zeros(len(requests), dtype=np.float64)
    greedy = np.zeros(len(requests), dtype=bool)
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            sums, all_greedy = _score_batch(model, [requests[index] for index in chunk], device, max_length)
            loglik[chunk] = sums
            greedy[chunk] = all_greedy
    return [ChoiceScore(request.item_index, request.choice_index, float(loglik[index]), request.n_continuation,
                        bool(greedy[index])) for index, request in enumerate(requests)]


def _score_batch(model: torch.nn.Module, batch: Sequence[_Request], device: torch.device, max_length: int,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Summed continuation log-probabilities (float64 (batch,)) and greedy flags (bool (batch,))."""
    inputs = [request.tokens[-(max_length + 1) :][:-1] for request in batch]
    lengths = np.array([len(row) for row in inputs])
    n_cont = np.array([request.n_continuation for request in batch])
    ids = np.zeros((len(batch), lengths.max()), dtype=np.int64)  # pad id 0: any valid token, masked out
    mask = np.zeros_like(ids)
    targets = np.zeros((len(batch), n_cont.max()), dtype=np.int64)
    for row, (tokens, request) in enumerate(zip(inputs, batch)):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
        targets[row, : request.n_continuation] = request.tokens[-request.n_continuation :]
    steps = np.arange(n_cont.max())
    valid = steps[None, :] < n_cont[:, None]
    # the logits at input position p predict token p + 1: the continuation's are the last n_cont real positions
    positions = np.where(valid, (lengths - n_cont)[:, None] + steps[None, :], 0)
    logits = model(input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device)).logits
    rows = torch.arange(len(batch), device=logits.device)[:, None]
    log_probs = torch.log_softmax(logits[rows, torch.from_numpy(positions).to(logits.device)].float(), dim=-1)
    targets_t = torch.from_numpy(targets).to(logits.device)
    valid_t = torch.from_numpy(valid).to(logits.device)
    token_log_probs = log_probs.gather(-1, targets_t[..., None]).squeeze(-1).masked_fill(~valid_t, 0.0)
    is_greedy = ((log_probs.argmax(dim=-1) == targets_t) | ~valid_t).all(dim=-1)
    return token_log_probs.sum(dim=-1).double().cpu().numpy(), is_greedy.cpu().numpy()


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    answer_index: int
    pred: int  # argmax of loglik
    pred_norm: int  # argmax of loglik / characters of the choice
    pred_bytes: int  # argmax of loglik / UTF-8 bytes of the choice

    @property
    def correct(self) -> bool:
        return self.pred == self.answer_index

    @property
    def correct_norm(self) -> bool:
        return self.pred_norm == self.answer_index

    @property
    def correct_bytes(self) -> bool:
        return self.pred_bytes == self.answer_index


def _logliks_by_item(items: Sequence[ArcItem], scores: Sequence[ChoiceScore]) -> list[np.ndarray]:
    table = [np.full(len(item.choices), np.nan) for item in items]
    for score in scores:
        table[score.item_index][score.choice_index] = score.loglik
    missing = [items[index].id for index, row in enumerate(table) if np.isnan(row).any()]
    if missing or len(scores) != sum(len(item.choices) for item in items):
        example = f" (e.g. item {missing[0]!r})" if missing else ""
        raise ValueError(f"scores do not cover every (item, choice) exactly once{example}")
    return table


def decide(items: Sequence[ArcItem], scores: Sequence[ChoiceScore]) -> list[ItemResult]:
    """Each item's prediction under ``acc``, ``acc_norm`` and ``acc_bytes`` (module docstring); ties go to
    the lowest choice index, as ``np.argmax``."""
    results = []
    for item, logliks in zip(items, _logliks_by_item(items, scores)):
        n_chars = np.array([len(choice) for choice in item.choices], dtype=np.float64)
        n_bytes = np.array([len(choice.encode("utf-8")) for choice in item.choices], dtype=np.float64)
        results.append(ItemResult(item.id, item.answer_index, int(np.argmax(logliks)),
                                  int(np.argmax(logliks / n_chars)), int(np.argmax(logliks / n_bytes))))
    return results


def accuracy(results: Sequence[ItemResult]) -> dict[str, float]:
    """Fractions of items answered correctly: ``acc``, ``acc_norm``, ``acc_bytes``."""
    if not results:
        raise ValueError("no ARC results to average")
    return {"acc": float(np.mean([result.correct for result in results])),
            "acc_norm": float(np.mean([result.correct_norm for result in results])),
            "acc_bytes": float(np.mean([result.correct_bytes for result in results]))}


def per_item_rows(items: Sequence[ArcItem], scores: Sequence[ChoiceScore], results: Sequence[ItemResult],
                  ) -> list[dict[str, Any]]:
    """One row per (item, choice), in (item, choice) order, for a parquet table (spec/18 ``arc_items``):
    enough to recompute every accuracy (``loglik`` with ``n_chars`` /
    ``n_bytes`` and ``is_answer``) and the predictions behind the reported ones (``chosen_*``)."""
    if len(results) != len(items):
        raise ValueError(f"{len(results)} results for {len(items)} items")
    rows = []
    for score in sorted(scores, key=lambda score: (score.item_index, score.choice_index)):
        item, result = items[score.item_index], results[score.item_index]
        choice = item.choices[score.choice_index]
        rows.append({
            "item_id": item.id, "item_index": score.item_index, "choice_index": score.choice_index,
            "label": item.labels[score.choice_index], "is_answer": score.choice_index == item.answer_index,
            "loglik": score.loglik, "n_tokens": score.n_tokens, "n_chars": len(choice),
            "n_bytes": len(choice.encode("utf-8")), "is_greedy": score.is_greedy,
            "chosen_acc": score.choice_index == result.pred, "chosen_acc_norm": score.choice_index == result.pred_norm,
            "chosen_acc_bytes": score.choice_index == result.pred_bytes,
        })
    return rows


def correct_by_item(rows: Sequence[Mapping[str, Any]], rule: str) -> np.ndarray:
    """float64 ``(n_items,)`` in item order: 1.0 where the choice ``rule`` (acc, acc_norm or acc_bytes) picked
    is the answer, from the rows ``per_item_rows`` builds (or their parquet read back)."""
    chosen = sorted((row["item_index"], row["is_answer"]) for row in rows if row[f"chosen_{rule}"])
    return np.asarray([correct for _, correct in chosen], dtype=np.float64)
