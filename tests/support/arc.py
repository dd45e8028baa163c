"""A small ARC-format item set written by the tests (original questions in the hub's layout, not ARC)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# (id, question, choice texts, labels, answerKey): 3 to 5 choices, letter and digit labels, non-ASCII
# choices (characters != bytes), a question ending in whitespace.
FIXTURE = [
    ("Mercury_1", "Which gas do plants take in from the air?", ["oxygen", "carbon dioxide", "nitrogen", "helium"],
     list("ABCD"), "B"),
    ("Mercury_2", "What melts when the sun heats it? ", ["ice", "stone", "glass"], list("ABC"), "A"),
    ("NYSEDREGENTS_3", "Which unit measures a temperature?", ["°C", "kilogram", "metre", "second"],
     list("1234"), "1"),
    ("MCAS_4", "Which word names a small café drink?", ["café crème", "tractor", "river", "mountain", "wire"],
     list("ABCDE"), "A"),
    ("Mercury_5", "Where does a river usually flow?", ["uphill", "downhill", "sideways"], list("123"), "2"),
    ("ACTAAP_6", "What does a thermometer measure?", ["temperature", "mass", "length", "time"], list("ABCD"), "A"),
    ("Mercury_7", "Which is a naïve guess about the moon?", ["it is cheese", "it orbits Earth", "it reflects light"],
     list("ABC"), "B"),
    ("MDSA_8", "Which animal lays eggs?", ["hen", "cow", "dog", "cat", "horse"], list("ABCDE"), "A"),
    ("Mercury_9", "What pulls objects toward Earth?", ["gravity", "magnetism", "friction", "wind"], list("1234"), "1"),
    ("VASoL_10", "Which state of water is steam?", ["gas", "liquid", "solid"], list("ABC"), "A"),
    ("Mercury_11", "What is the opposite of north?", ["south", "east", "west", "up"], list("ABCD"), "A"),
    ("TIMSS_12", "Which season follows winter in Zürich?", ["spring", "summer", "autumn", "winter"], list("ABCD"), "A"),
]


def arc_records(fixture=FIXTURE) -> list[dict]:
    return [{"id": item_id, "question": question, "choices": {"text": texts, "label": labels}, "answerKey": key}
            for item_id, question, texts, labels, key in fixture]


def write_parquet(path: Path, records: list[dict]) -> Path:
    choices_type = pa.struct([("text", pa.list_(pa.string())), ("label", pa.list_(pa.string()))])
    table = pa.table({"id": pa.array([r["id"] for r in records], pa.string()),
                      "question": pa.array([r["question"] for r in records], pa.string()),
                      "choices": pa.array([r["choices"] for r in records], choices_type),
                      "answerKey": pa.array([r["answerKey"] for r in records], pa.string())})
    pq.write_table(table, path)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
