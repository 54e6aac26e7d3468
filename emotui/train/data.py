"""Load the train/validation/test splits a run asks for, as plain texts and integer label ids.

Sources, in order of precedence: local files (``train_file``/``validation_file``/``test_file``),
a folder of them (``data_dir``), else a Hub dataset (``dataset_name``, via ``datasets``).
Local formats: .jsonl, .json, .csv, .parquet, and the Kaggle ``text;label`` .txt files.

Label names: a Hub dataset's ClassLabel names; otherwise integer labels 0..5 of dair-ai/emotion
(the default ``dataset_name``) and the six emotion words get the dataset's names in its order
(sadness, joy, love, anger, fear, surprise); any other string labels are sorted, any other
integer labels are sorted and named by their value.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotui.core.config import RunConfig
from emotui.core.errors import DataError, listed, quoted

EMOTION_DATASET = "dair-ai/emotion"
EMOTION_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")
SPLITS = ("train", "validation", "test")
EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet", ".txt")
# File stems accepted for each split inside --data_dir (the Kaggle copy names validation "val").
SPLIT_STEMS = {
    "train": ("train",),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test",),
}
_INT_RE = re.compile(r"^\s*-?\d+\s*$")


@dataclass
class Split:
    """One split: texts and label ids, plus where it came from (for error messages)."""

    name: str
    texts: list[str]
    labels: list[int]
    source: str

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Dataset:
    splits: dict[str, Split]
    label_names: list[str]
    # Where the data came from, for logs: "files" or "hub:<name>".
    origin: str = ""
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> Split | None:
        return self.splits.get(name)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def load_splits(config: RunConfig) -> Dataset:
    """Every split the config asks for, checked, labels mapped to ids consistent across splits."""
    removed = {s.strip() for s in (config.remove_splits or "").split(",") if s.strip()}
    files = local_files(config)
    if files:
        raw = {split: read_table(path) for split, path in files.items() if split not in removed}
        sources = {split: str(path) for split, path in files.items()}
        class_names = None
        origin = "files"
    else:
        raw, class_names, sources = load_hub(config, removed)
        origin = f"hub:{config.dataset_name}"
    drop_columns = [c.strip() for c in (config.remove_columns or "").split(",") if c.strip()]

    texts: dict[str, list[str]] = {}
    raw_labels: dict[str, list[Any]] = {}
    for split, (columns, rows) in raw.items():
        source = sources[split]
        columns = [c for c in columns if c not in drop_columns]
        if not rows:
            raise DataError(f"{split} split ({source}) has no rows; give a file with examples")
        texts[split] = extract_texts(config, columns, rows, source)
        raw_labels[split] = extract_labels(config, columns, rows, source)

    label_names, mapping = label_mapping(config, raw_labels, class_names)
    check_labels(config, raw_labels, label_names, sources)
    splits: dict[str, Split] = {}
    for split in raw:
        ids = map_labels(raw_labels[split], mapping, split, sources[split], label_names)
        splits[split] = Split(split, texts[split], ids, sources[split])

    apply_limits(config, splits)
    check_required(config, splits, origin)
    return Dataset(splits=splits, label_names=label_names, origin=origin)


def check_required(config: RunConfig, splits: dict[str, Split], origin: str) -> None:
    needs = (("train", config.do_train, "--train_file"),
             ("validation", config.do_eval, "--validation_file"),
             ("test", config.do_predict, "--test_file"))
    for split, wanted, flag in needs:
        if wanted and split not in splits:
            switch = {"train": "do_train", "validation": "do_eval", "test": "do_predict"}[split]
            raise DataError(
                f"no {split} split in {origin or 'the data'}; give {flag} or set --{switch} false"
            )


def apply_limits(config: RunConfig, splits: dict[str, Split]) -> None:
    train = splits.get("train")
    if train is not None and config.shuffle_train_dataset:
        order = list(range(len(train)))
        random.Random(config.shuffle_seed).shuffle(order)
        train.texts = [train.texts[i] for i in order]
        train.labels = [train.labels[i] for i in order]
    limits = {"train": config.max_train_samples, "validation": config.max_eval_samples,
              "test": config.max_predict_samples}
    for name, limit in limits.items():
        split = splits.get(name)
        if split is not None and limit is not None:
            split.texts, split.labels = split.texts[:limit], split.labels[:limit]


# ---------------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------------


def local_files(config: RunConfig) -> dict[str, Path]:
    """{split: path} from --train_file etc., else from --data_dir; {} means "use the Hub"."""
    given = {"train": config.train_file, "validation": config.validation_file,
             "test": config.test_file}
    files = {split: Path(p).expanduser() for split, p in given.items() if p}
    if files:
        return files
    if not config.data_dir:
        return {}
    folder = Path(config.data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"data_dir {folder} is not a folder")
    for split, stems in SPLIT_STEMS.items():
        for stem in stems:
            found = [folder / f"{stem}{ext}" for ext in EXTENSIONS if (folder / f"{stem}{ext}").is_file()]
            if found:
                files[split] = found[0]
                break
    if "train" not in files and config.do_train:
        names = ", ".join(f"train{ext}" for ext in EXTENSIONS)
        raise DataError(f"data_dir {folder} has no training file; expected one of: {names}")
    return files


def read_table(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of one local file; a one-line DataError when it cannot be read."""
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise DataError(
            f"{path}: unsupported file type '{ext or 'none'}'; use one of {', '.join(EXTENSIONS)}"
        )
    if not path.is_file():
        raise DataError(f"{path} does not exist; check the path")
    try:
        if ext == ".parquet":
            return _read_parquet(path)
        # utf-8-sig: a byte-order mark (Excel's UTF-8 CSV) is not part of the first column's name.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if ext == ".jsonl":
        rows = _parse_jsonl(text, path)
    elif ext == ".json":
        rows = _parse_json(text, path)
    elif ext == ".csv":
        rows = _parse_csv(text, path)
    else:
        rows = _parse_kaggle_txt(text, path)
    columns: list[str] = []
    for row in rows[:1000]:
        columns.extend(k for k in row if k not in columns)
    return columns, rows


def _parse_jsonl(text: str, path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number} is not valid JSON ({exc.msg}); "
                            "expected one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path} line {number} is not a JSON object; expected "
                            '{"text": ..., "label": ...}')
        rows.append(row)
    return rows


def _parse_json(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return _parse_jsonl(text, path)  # many ".json" datasets are JSON lines (as HF accepts)
    if isinstance(data, dict):
        # {"data": [...]} (HF's `field`), or columns {"text": [...], "label": [...]}.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(data) == 1 and lists and all(isinstance(r, dict) for r in lists[0]):
            data = lists[0]
        elif lists and len(lists) == len(data) and len({len(v) for v in lists}) == 1:
            keys = list(data)
            data = [dict(zip(keys, values)) for values in zip(*data.values())]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path} is not a list of records; expected "
                        '[{"text": ..., "label": ...}, ...] or JSON lines')
    return data


def _parse_csv(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        reader = csv.DictReader(text.splitlines())
        rows = [dict(row) for row in reader]
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV ({exc}); expected a header row") from None
    if reader.fieldnames is None:
        return []
    return rows


def _parse_kaggle_txt(text: str, path: Path) -> list[dict[str, Any]]:
    """The Kaggle "Emotions dataset for NLP" format: one ``text;label`` per line, no header."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if ";" not in line:
            raise DataError(f"{path} line {number} has no ';'; expected 'text;label' per line")
        body, label = line.rsplit(";", 1)  # texts may contain ';', labels never do
        rows.append({"text": body, "label": label.strip()})
    return rows


def _read_parquet(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} is not a readable parquet file: {last}") from None
    return list(table.column_names), table.to_pylist()


# ---------------------------------------------------------------------------------------------
# Hub
# ---------------------------------------------------------------------------------------------

LOCAL_HINT = ("use local files: --train_file TRAIN --validation_file VAL --test_file TEST "
              "(or --data_dir DIR)")


def load_hub(config: RunConfig, removed: set[str]):
    """A Hub dataset through ``datasets.load_dataset`` (works offline from its cache)."""
    name = config.dataset_name
    if not name:
        raise DataError("no data given; " + LOCAL_HINT + " or --dataset_name NAME")
    import datasets

    try:
        loaded = datasets.load_dataset(
            name, config.dataset_config_name, cache_dir=config.cache_dir, token=config.token
        )
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise DataError(
            f"cannot reach the Hugging Face Hub to load dataset '{name}'; {LOCAL_HINT}"
        ) from exc
    except Exception as exc:  # datasets raises many types (not found, bad config, ...)
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot load dataset '{name}': {last}; {LOCAL_HINT}") from exc
    wanted = {"train": config.train_split_name or "train",
              "validation": config.validation_split_name or "validation",
              "test": config.test_split_name or "test"}
    raw, sources, class_names = {}, {}, None
    for split, hub_split in wanted.items():
        if split == "validation" and hub_split not in loaded and "val" in loaded \
                and not config.validation_split_name:
            hub_split = "val"
        sources[split] = f"dataset '{name}' split '{hub_split}'"
        if split in removed or hub_split not in loaded:
            continue
        part = loaded[hub_split]
        feature = part.features.get(config.label_column_name)
        if class_names is None and getattr(feature, "names", None):
            class_names = list(feature.names)
        raw[split] = (list(part.column_names), part.to_list())
    return raw, class_names, sources


# ---------------------------------------------------------------------------------------------
# Columns and labels
# ---------------------------------------------------------------------------------------------


def extract_texts(config: RunConfig, columns: list[str], rows: list[dict], source: str) -> list[str]:
    wanted = config.text_columns()
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError(
            f"{source} has no text column '{missing[0]}'; its columns are: "
            f"{listed(columns, 10)}; set --text_column_names"
        )
    if not any(r.get(c) not in (None, "") for r in rows for c in wanted):
        raise DataError(
            f"{source}: text column{'s' if len(wanted) > 1 else ''} "
            f"{', '.join(repr(c) for c in wanted)} "
            f"{'are' if len(wanted) > 1 else 'is'} empty in every row; set --text_column_names "
            "to the column that holds the texts"
        )
    joiner = config.text_column_delimiter
    if len(wanted) == 1:
        col = wanted[0]
        return ["" if r.get(col) is None else str(r.get(col)) for r in rows]
    return [joiner.join("" if r.get(c) is None else str(r.get(c)) for c in wanted) for r in rows]


def extract_labels(config: RunConfig, columns: list[str], rows: list[dict], source: str) -> list[Any]:
    col = config.label_column_name
    if col not in columns:
        raise DataError(
            f"{source} has no label column '{col}'; its columns are: "
            f"{listed(columns, 10)}; set --label_column_name"
        )
    labels = []
    for number, row in enumerate(rows, 1):
        value = row.get(col)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(f"{source} row {number} has no label; every row needs one")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise DataError(f"{source} row {number} has label {quoted(value)}; use an integer "
                            "or a name")
        if isinstance(value, float):
            if not value.is_integer():
                raise DataError(f"{source} row {number} has label {quoted(value)}; labels must "
                                "be class ids or names (regression is not supported)")
            value = int(value)
        elif isinstance(value, str) and _INT_RE.match(value):
            value = int(value)  # CSV and txt files carry ids as text
        labels.append(value)
    return labels


def label_mapping(
    config: RunConfig, raw: dict[str, list[Any]], class_names: list[str] | None
) -> tuple[list[str], dict[Any, int]]:
    """(label names in id order, {raw value: id})."""
    if class_names:
        return class_names, {i: i for i in range(len(class_names))}
    basis = "train" if "train" in raw else next(iter(raw))
    values = set(raw[basis])
    kinds = {type(v) for v in values}
    if len(kinds) > 1:
        raise DataError(f"labels of the {basis} split mix numbers and names; use one kind")
    if kinds == {int}:
        emotion_like = (config.dataset_name or "").strip() == EMOTION_DATASET
        if emotion_like and values == set(range(len(EMOTION_LABELS))):
            return list(EMOTION_LABELS), {i: i for i in range(len(EMOTION_LABELS))}
        ordered = sorted(values)
        return [str(v) for v in ordered], {v: i for i, v in enumerate(ordered)}
    if values == set(EMOTION_LABELS):
        ordered = list(EMOTION_LABELS)
    else:
        ordered = sorted(values)
    return ordered, {v: i for i, v in enumerate(ordered)}


# More distinct labels than this, in a split where most rows have their own, is a text column
# named as the label column (--label_column_name text), not a classification task.
MAX_DISTINCT_LABELS = 1000


def check_labels(config: RunConfig, raw: dict[str, list[Any]], names: list[str],
                 sources: dict[str, str]) -> None:
    """A training split a classifier can learn from: two labels or more, and labels that are
    classes rather than one text per row."""
    if "train" not in raw or not config.do_train:
        return
    source, rows = sources["train"], len(raw["train"])
    if len(names) < 2:
        raise DataError(
            f"the training data ({source}) has a single label ({listed(names, 1)}) in column "
            f"{config.label_column_name!r}; a classifier needs two or more: check the file or "
            "--label_column_name")
    if len(names) > MAX_DISTINCT_LABELS and len(names) > rows / 2:
        raise DataError(
            f"column {config.label_column_name!r} of {source} has {len(names)} distinct values "
            f"in {rows} rows (e.g. {listed(names, 3, width=30)}): not labels; "
            "set --label_column_name to the column of class ids or names")


def map_labels(values: list[Any], mapping: dict[Any, int], split: str, source: str,
               names: list[str]) -> list[int]:
    unseen = sorted({v for v in values if v not in mapping}, key=str)
    if unseen:
        raise DataError(
            f"{source} ({split}) has labels not in the training data: {listed(unseen, 10)}; "
            f"known labels: {listed(names, 10)}"
        )
    return [mapping[v] for v in values]
