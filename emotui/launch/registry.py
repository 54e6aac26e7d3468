"""The backends emotui knows: one spec each (base.BackendSpec), and the one place to find them.

Every list of backends derives from here: the CLI's ``--backend`` choices (``emotui run``,
``emotui sweep``), the TUI's backend picker, the sweep layer, the validation of a config file's
``backend:``, the resources flags, form rows and config sections (``resource_settings``).
Adding a backend is a module implementing ``base.Backend`` (a process backend: a few hooks of
``process.ProcessBackend``) plus one entry below. Importing this module is cheap: a backend's
own module is imported only when it is used.
"""

from __future__ import annotations

from emotui.core.config import suggest
from emotui.core.errors import ConfigError
from emotui.launch.base import Backend, BackendSpec
from emotui.launch.resources import SLURM_RESOURCES, ResourceSettings

# Where `emotui run` trains when neither a flag nor a config file names a backend.
DEFAULT_BACKEND = "inline"

REGISTRY: dict[str, BackendSpec] = {spec.name: spec for spec in (
    BackendSpec(
        "inline", label="in this terminal", help="in this terminal",
        factory="emotui.launch.inline:InlineBackend", detached=False, tui=False,
    ),
    BackendSpec(
        "local", label="detached process",
        help="a detached process that outlives this command",
        factory="emotui.launch.local:LocalBackend", detached=True, pins_gpus=True,
    ),
    BackendSpec(
        "slurm", label="sbatch job", help="an sbatch job (submitit)",
        factory="emotui.launch.slurm:SlurmBackend", detached=True, arrays=True, requeues=True,
        poll_interval_s=5.0, resources=SLURM_RESOURCES, packs_trials=True,
        this_machine=False,
    ),
)}


def backend_specs(*, tui: bool | None = None, detached: bool | None = None,
                  resources: bool | None = None) -> list[BackendSpec]:
    """The registered specs, in order; each filter, when given, keeps only the matching ones."""
    return [spec for spec in REGISTRY.values()
            if (tui is None or spec.tui == tui)
            and (detached is None or spec.detached == detached)
            and (resources is None or (spec.resources is not None) == resources)]


def backend_names(**filters: bool | None) -> tuple[str, ...]:
    """Names of the registered backends (filters as backend_specs): what ``choices=`` take."""
    return tuple(spec.name for spec in backend_specs(**filters))


def resource_settings(**filters: bool | None) -> list[ResourceSettings]:
    """The resources the registered backends take (filters as backend_specs), each once, in
    order: one group of flags, one set of form rows, one config section each."""
    found: list[ResourceSettings] = []
    for spec in backend_specs(**filters):
        if spec.resources is not None and spec.resources not in found:
            found.append(spec.resources)
    return found


def backends_taking(resources: ResourceSettings, **filters: bool | None) -> tuple[str, ...]:
    """Names of the backends whose jobs take ``resources`` (filters as backend_specs)."""
    return tuple(spec.name for spec in backend_specs(**filters) if spec.resources == resources)


def backend_spec(name: str) -> BackendSpec:
    """The spec of the backend called ``name``; a one-line ConfigError naming the registered
    ones otherwise."""
    spec = REGISTRY.get(name)
    if spec is None:
        names = backend_names()
        raise ConfigError(f"unknown backend '{name}'; choose one of: {', '.join(names)}"
                          + suggest(str(name), names))
    return spec


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (imports only what that backend needs)."""
    return backend_spec(name).create()
