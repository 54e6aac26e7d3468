"""emotui.train can be named by light code (CLI, launch) without loading torch."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_train_package_does_not_import_torch():
    code = ("import sys; from emotui.train import train, predict, Preempted; "
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_run_on_local_files_never_imports_datasets(tiny_model_dir, toy_data_dir, runs_dir):
    """`datasets` (with pandas and pyarrow: seconds of start-up on a small CPU) is for Hub
    datasets and the reference recipe; a run on local files trains without it, its logging
    quieted through the variables `datasets` reads should anyone import it later."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "emotui", "run", "--method", "lora",
         "--model_name_or_path", str(tiny_model_dir), "--data_dir", str(toy_data_dir),
         "--max_steps", "1", "--runs-dir", str(runs_dir), "--quiet"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "torch" in imported  # it did train
    assert not {"datasets", "pandas", "pyarrow"} & imported
