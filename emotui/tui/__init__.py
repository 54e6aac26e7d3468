"""The Textual TUI. Talks to runs only through run sources (the run store files) and the launch
layer; never imports torch/transformers/peft/datasets."""
