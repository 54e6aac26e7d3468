"""Loading splits from every supported source, and the one-line DataErrors."""

from __future__ import annotations

import csv
import json

import pytest

from emotui.core.config import build_config
from emotui.core.errors import DataError
from emotui.train.data import EMOTION_LABELS, load_splits

ROWS = {
    "train": [("i feel sad", 0), ("so happy", 1), ("i adore you", 2), ("furious; really", 3),
              ("scared of it", 4), ("what a surprise", 5), ("lonely again", 0)],
    "validation": [("gloomy day", 0), ("glad", 1)],
    "test": [("mad at him", 3), ("amazed", 5), ("afraid", 4)],
}


def config_for(**values):
    config, _ = build_config([("test", values)])
    return config


def write_jsonl(path, rows, text="text", label="label"):
    path.write_text("".join(json.dumps({text: t, label: l}) + "\n" for t, l in rows))
    return path


def write_format(folder, split, rows, ext):
    path = folder / f"{split}{ext}"
    if ext == ".jsonl":
        write_jsonl(path, rows)
    elif ext == ".json":
        path.write_text(json.dumps([{"text": t, "label": l} for t, l in rows]))
    elif ext == ".csv":
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    elif ext == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [l for _, l in rows]}), path)
    elif ext == ".txt":  # Kaggle: text;label with label words, no header
        path.write_text("".join(f"{t};{EMOTION_LABELS[l]}\n" for t, l in rows))
    return path


@pytest.mark.parametrize("ext", [".jsonl", ".json", ".csv", ".parquet", ".txt"])
def test_every_local_format(tmp_path, ext):
    files = {split: write_format(tmp_path, split, rows, ext) for split, rows in ROWS.items()}
    config = config_for(train_file=str(files["train"]), validation_file=str(files["validation"]),
                        test_file=str(files["test"]))
    data = load_splits(config)
    assert data.label_names == list(EMOTION_LABELS)
    assert data.splits["train"].texts == [t for t, _ in ROWS["train"]]
    for split, rows in ROWS.items():
        assert data.splits[split].labels == [l for _, l in rows]


@pytest.mark.parametrize("val_stem", ["validation", "val"])
def test_data_dir(tmp_path, val_stem):
    write_format(tmp_path, "train", ROWS["train"], ".txt")
    write_format(tmp_path, val_stem, ROWS["validation"], ".txt")
    write_format(tmp_path, "test", ROWS["test"], ".txt")
    data = load_splits(config_for(data_dir=str(tmp_path)))
    assert set(data.splits) == {"train", "validation", "test"}
    assert data.splits["train"].texts[3] == "furious; really"  # split on the last ';'
    assert data.splits["test"].labels == [3, 5, 4]


def test_string_labels_and_several_text_columns(tmp_path):
    rows = [{"a": "x", "b": "y", "y": "pos"}, {"a": "z", "b": "w", "y": "neg"}]
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = config_for(data_dir=str(tmp_path), text_column_names="a,b",
                        text_column_delimiter=" | ", label_column_name="y")
    data = load_splits(config)
    assert data.label_names == ["neg", "pos"]
    assert data.splits["train"].texts == ["x | y", "z | w"]
    assert data.splits["train"].labels == [1, 0]


def test_limits_and_shuffle(tmp_path):
    for split, rows in ROWS.items():
        write_format(tmp_path, split, rows, ".jsonl")
    config = config_for(data_dir=str(tmp_path), max_train_samples=3, max_predict_samples=1,
                        shuffle_train_dataset=True, shuffle_seed=1)
    data = load_splits(config)
    assert len(data.splits["train"]) == 3 and len(data.splits["test"]) == 1
    assert set(data.splits["train"].texts) <= {t for t, _ in ROWS["train"]}
    again = load_splits(config)
    assert again.splits["train"].texts == data.splits["train"].texts  # seeded


def test_other_integer_labels_are_named_by_value(tmp_path):
    rows = [("a", 3), ("b", 7)]
    for split in ("train", "validation", "test"):
        write_format(tmp_path, split, rows, ".jsonl")
    data = load_splits(config_for(data_dir=str(tmp_path), dataset_name="mine"))
    assert data.label_names == ["3", "7"]
    assert data.splits["test"].labels == [0, 1]


def test_missing_column_lists_the_columns(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"], text="sentence")
    with pytest.raises(DataError) as err:
        load_splits(config_for(train_file=str(tmp_path / "train.jsonl"), do_eval=False,
                               do_predict=False))
    message = str(err.value)
    assert "no text column 'text'" in message and "sentence, label" in message
    assert str(tmp_path / "train.jsonl") in message


def test_missing_label_column(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"], label="emotion")
    with pytest.raises(DataError, match="no label column 'label'; its columns are: text, emotion"):
        load_splits(config_for(train_file=str(tmp_path / "train.jsonl"), do_eval=False,
                               do_predict=False))


def test_unseen_label_in_test_names_it_and_the_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"][:2])  # only labels 0 and 1
    write_jsonl(tmp_path / "validation.jsonl", ROWS["validation"])
    test = write_jsonl(tmp_path / "test.jsonl", [("x", 0), ("y", 9)])
    with pytest.raises(DataError) as err:
        load_splits(config_for(data_dir=str(tmp_path), dataset_name="mine"))
    message = str(err.value)
    assert str(test) in message and "9" in message and "not in the training data" in message


def test_empty_split(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"])
    (tmp_path / "validation.jsonl").write_text("\n")
    write_jsonl(tmp_path / "test.jsonl", ROWS["test"])
    with pytest.raises(DataError, match="validation split .* has no rows"):
        load_splits(config_for(data_dir=str(tmp_path)))


def test_unreadable_files(tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"text": "ok", "label": 0}\n{not json\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_splits(config_for(train_file=str(bad), do_eval=False, do_predict=False))
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not UTF-8"):
        load_splits(config_for(train_file=str(binary), do_eval=False, do_predict=False))
    parquet = tmp_path / "c.parquet"
    parquet.write_text("not parquet")
    with pytest.raises(DataError, match="not a readable parquet file"):
        load_splits(config_for(train_file=str(parquet), do_eval=False, do_predict=False))
    kaggle = tmp_path / "d.txt"
    kaggle.write_text("no separator here\n")
    with pytest.raises(DataError, match="line 1 has no ';'"):
        load_splits(config_for(train_file=str(kaggle), do_eval=False, do_predict=False))
    odd = tmp_path / "e.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        load_splits(config_for(train_file=str(odd), do_eval=False, do_predict=False))


def test_missing_split_that_is_needed(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"])
    with pytest.raises(DataError, match="no validation split .*--do_eval false"):
        load_splits(config_for(data_dir=str(tmp_path)))


def test_all_errors_are_one_line(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"], text="sentence")
    with pytest.raises(DataError) as err:
        load_splits(config_for(train_file=str(tmp_path / "train.jsonl"), do_eval=False,
                               do_predict=False))
    assert "\n" not in str(err.value)
