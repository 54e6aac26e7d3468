"""Legends name runs by a whole part of their id, never its last N characters."""

from __future__ import annotations

from emotui.core.run_names import legend_names, short_run_name
from emotui.core.runstore import new_run_id


def test_a_local_id_keeps_its_tag_and_tail():
    assert short_run_name("251202-101600-ptext-8wkg") == "ptext-8wkg"  # not "text-8wkg"
    assert short_run_name("251202-101600-full-0015") == "full-0015"
    for method in ("prompt-text", "prompt-random", "p-tuning", "lora", "full"):
        run_id = new_run_id(method)
        assert run_id.endswith(short_run_name(run_id)) and short_run_name(run_id).count("-") == 1


def test_other_ids_stay_whole():
    assert short_run_name("wandb-3kx9ab12") == "wandb-3kx9ab12"
    assert short_run_name("my-own-run") == "my-own-run"


def test_names_that_would_read_the_same_show_the_whole_id():
    ids = ["251202-101600-lora-ab12", "251203-090000-lora-ab12", "251202-101700-ptext-8wkg"]
    assert legend_names(ids) == {ids[0]: ids[0], ids[1]: ids[1], ids[2]: "ptext-8wkg"}
