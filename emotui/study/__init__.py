"""`emotui study`: a comparison of methods, end to end, as one durable state machine.

A study searches each method, picks each method's winner on validation (never test), confirms
the winners with several seeds, gathers their test results, writes the report and exports the
winners. Every search and every confirmation is an ordinary sweep (``emotui.sweep``) with an id
derived from the study's, so the sweeps' own durable state makes the whole resumable; the study
itself only records its phase, its sweeps, the winners and the budget spent.

    spec        the study file (or a list of W&B sweep files) -> a validated StudySpec
    budget      GPU-hours (CPU-hours on a CPU) and wall time: parsing, spending, shares
    plan        runs per phase and method, the dry-run plan and its cost estimate
    store       runs/studies/<id>/: paths, study.json (schema_version), the controller claim
    select      a method's winner from its search sweep, on validation only
    outcome     the test phase (mean ± std per method), the report, the exports
    controller  the state machine: search -> select -> confirm -> test -> report -> export
    summary     what `emotui study status` and `study ls` show

Pure orchestration: nothing here imports torch; training happens in the sweeps' trials, and the
export phase imports the train layer's exporter only when it runs.
"""
