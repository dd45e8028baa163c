"""IRER generation (seed 001, Part 6 components 4 and 6): one process per candidate against the vmapped generation.

    .venv/bin/python -m bench.irer            # a generation as configured (configs/irer/hunt.yaml: 16 at N=128,
                                              # 800 steps), 256 prior draws at N=128 for the NaN rate (~6 min, 2 cores)
    .venv/bin/python -m bench.irer --quick    # 4 candidates at N=64, 100 steps; 32 NaN draws at N=64 (under a minute)
    .venv/bin/python -m bench.irer --population 8 --n 64 --steps 400 --device cpu --seed-candidates 4

Sides, on the same candidates (``Prior().sample`` with a seeded Generator; initial-field keys
``candidate_key(hunt_seed, 0, i)``), the same physics, grid, steps and precision:

- seed design (Part 6: ``worker_sncgl_sdg.py`` driven by ``core_engine.py``): this process plays
  core_engine. Per candidate it writes the job's JSON config file, then runs one worker process
  the way ``_run_simulation_job`` does (``subprocess.run``, captured output, ``check``, timeout 600 s)
  and waits for it before the next. The worker (this file with ``--seed-worker``) does what the
  seed's worker does: imports jax, numpy, h5py and the physics, reads its config, builds the
  candidate's initial field and runs its own jit-compiled ``lax.scan`` to the end
  (``irer.solver.solve_candidate``: this suite's equations, not the seed's Euler placeholder, so both
  sides do equal steps of equal work), writes its final arrays to an HDF5 file with h5py, exits. The
  validator process core_engine runs after each worker is left out of both sides.
- vmapped: one process calls ``irer.population.run_population`` on the whole generation (chunked as
  configured) twice: the first call compiles and runs, the second (warm) only runs. Compile time
  is first minus warm; JAX's own compile events (trace + lowering + XLA compile, from
  ``jax.monitoring``) are shown beside it.
- steady state of the seed design: one more process runs ``solve_candidate`` on candidate 0, then
  twice more warm; the faster warm call is the seed design's compute per candidate without process
  start-up or compilation (which its design pays in every process).

Times are wall-clock seconds on this machine (the load average is printed, the machine may be
shared). Interpreter start of a process is its wall time seen from here minus what it timed itself.
The NaN rate runs ``Prior().sample(Generator, samples)`` through ``run_population`` at the default
steps on the generation's grid (``--nan-n`` to change it) and counts candidates whose ``finite``
flag is False; it takes about 4 of the full run's 6 minutes on 2 cores. Targets (issue 5, item 10): the vmapped
generation at least 20x the seed design's candidates per second; zero NaN. Numbers are printed,
never asserted.

K fields (issue 20): the same candidates through ``run_candidates`` from K = 1 and K = 8 shared initial
fields, as candidates/s against the seed design at equal work (K of its worker processes per candidate).
Cache: a real ``runlab submit`` of a ``--cache-generations`` (10) hunt at N=32 counts, per generation,
the candidates integrated and those the ledger served (elites, repeats), and the integrations saved.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # a child's clock starts here; the interpreter start before it is seen by the parent

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

from bench.processes import REPO, bench_command, bench_env  # noqa: E402

HUNT_CONFIG = REPO / "configs" / "irer" / "hunt.yaml"
HUNT_SEED = 0  # the hunt seed of every candidate key; generation 0
PRIOR_SEED = 0  # np.random.default_rng(PRIOR_SEED) draws the generation's parameters
NAN_PRIOR_SEED = 1  # ... and the NaN-rate samples
WORKER_TIMEOUT_S = 600  # core_engine's timeout for a worker
TARGET_RATIO = 20.0
FIELD_COUNTS = (1, 8)  # K of the fields table: the seed's one integration per candidate, and the hunt's default
# Bytes an ETDRK4 step's FFTs move per grid point: 4 nonlinear evaluations, each an ifft2 and an fft2 of the
# complex field (read + write of 8-byte points: 16 each) and an rfft2 and irfft2 of the density (about 8 each).
FFT_BYTES_PER_POINT_STEP = {"float32": 4 * (2 * 16 + 2 * 8), "float64": 2 * 4 * (2 * 16 + 2 * 8)}
PEAK_BANDWIDTH_GBS = {"H200": 4800.0, "H100": 3350.0, "A100": 2039.0, "L40S": 864.0}  # vendor HBM/GDDR peaks


@dataclass(frozen=True)
class Setup:
    """What every side runs: the generation's grid, steps and precision, and where it runs."""

    n: int
    dx: float
    dt: float
    steps: int
    population: int
    chunk_size: int | str | None  # candidates per call; None: all; "auto": from the device's memory
    device: str
    precision: str | None


@dataclass(frozen=True)
class Case:
    """One measured child process (vmapped generation, steady-state probe, or NaN rate)."""

    kind: str  # "vmapped", "probe", "nan" or "fields"
    setup: Setup
    params: list[list[float]] = field(default_factory=list)  # (P, 3) kappa, sigma_k, alpha
    rho_out: str = ""  # vmapped: where to save the first call's rho (P, N, N) for the agreement check
    fields: int = 1  # fields: K initial fields per candidate


# ---------------------------------------------------------------- in the child processes


class CompileClock:
    """Seconds JAX reports spending on tracing, lowering and XLA compilation (``jax.monitoring`` events)."""

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def __init__(self) -> None:
        import jax

        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event: str, duration: float, **_: Any) -> None:
        if event in self.EVENTS:
            self.seconds += duration


def _model_objects(setup: Setup) -> tuple[Any, Any, Any]:
    from irer.model import FieldModel, Grid, TimeStepping

    return FieldModel(), Grid(n=setup.n, dx=setup.dx), TimeStepping(dt=setup.dt, steps=setup.steps)


def _chunk(setup: Setup, fields: int, count: int) -> int:
    """The configured chunk (``auto``: sized from the device's memory, as the GEN stage sizes it) in candidates
    of ``fields`` integrations each."""
    from irer.chunking import resolve_chunk_size
    from irer.population import resolve_device

    _, grid, stepping = _model_objects(setup)
    return resolve_chunk_size(setup.chunk_size, resolve_device(setup.device), grid, stepping,
                              setup.precision or "float32", fields, count)


def seed_worker(config_path: str, job_uuid: str) -> dict[str, Any]:
    """worker_sncgl_sdg.py: one candidate from its JSON config to its HDF5 file, then exit."""
    started = time.perf_counter()
    import h5py
    import jax
    import numpy as np

    from irer.model import candidate_key
    from irer.solver import solve_candidate

    imported = time.perf_counter()
    jax.devices()  # the backend starts here, not inside the timed solve
    backend = time.perf_counter()
    compiles = CompileClock()
    config = json.loads(Path(config_path).read_text())
    setup = Setup(**config["setup"])
    model, grid, stepping = _model_objects(setup)
    key = candidate_key(config["hunt_seed"], config["generation"], config["candidate"])
    params = np.array([config["kappa"], config["sigma_k"], config["alpha"]])
    result = solve_candidate(key, params, model, grid, stepping, dtype=setup.precision)
    result.psi.block_until_ready()
    solved, compile_s = time.perf_counter(), compiles.seconds
    psi, g_tt = np.asarray(result.psi), np.asarray(result.g_tt)
    rho = psi.real**2 + psi.imag**2
    with h5py.File(Path(config["data_dir"]) / f"rho_history_{job_uuid}.h5", "w") as handle:
        handle.create_dataset("final_psi_re", data=psi.real)
        handle.create_dataset("final_psi_im", data=psi.imag)
        handle.create_dataset("final_rho", data=rho)
        handle.create_dataset("final_g_tt", data=g_tt)
    written = time.perf_counter()
    return {"before_main_s": started - _STARTED, "imports_s": imported - started, "backend_s": backend - imported,
            "solve_s": solved - backend, "compile_s": compile_s, "write_s": written - solved,
            "total_s": written - _STARTED, "finite": bool(all(np.isfinite(a).all() for a in (psi, rho, g_tt)))}


def run_vmapped(case: Case) -> dict[str, Any]:
    """The whole generation through ``run_population``: a first (compiling) and a warm call."""
    started = time.perf_counter()
    import jax
    import numpy as np

    from irer.model import candidate_keys
    from irer.population import run_population

    imported = time.perf_counter()
    devices = [str(device) for device in jax.devices()]
    backend = time.perf_counter()
    compiles = CompileClock()
    setup = case.setup
    model, grid, stepping = _model_objects(setup)
    params = np.array(case.params)

    def call() -> tuple[float, Any]:
        begun = time.perf_counter()
        keys = candidate_keys(HUNT_SEED, 0, len(params))
        out = run_population(params, keys, model, grid, stepping, chunk_size=_chunk(setup, 1, len(params)),
                             device=setup.device,
                             dtype=setup.precision)
        return time.perf_counter() - begun, out

    first_s, first = call()
    first_compile_s = compiles.seconds
    warm_s, warm = call()
    if case.rho_out:
        np.save(case.rho_out, first.rho)
    return {"before_main_s": started - _STARTED, "imports_s": imported - started, "backend_s": backend - imported,
            "first_s": first_s, "warm_s": warm_s, "compile_events_s": first_compile_s,
            "warm_compile_events_s": compiles.seconds - first_compile_s, "finite": int(first.finite.sum()),
            "warm_equal": bool(np.array_equal(first.rho, warm.rho, equal_nan=True)), "devices": devices,
            "total_s": time.perf_counter() - _STARTED}


def run_probe(case: Case) -> dict[str, Any]:
    """Candidate 0 through ``solve_candidate`` once cold and twice warm, in one process."""
    import numpy as np

    from irer.model import candidate_key
    from irer.solver import solve_candidate

    model, grid, stepping = _model_objects(case.setup)
    key, params = candidate_key(HUNT_SEED, 0, 0), np.array(case.params[0])
    times = []
    for _ in range(3):
        begun = time.perf_counter()
        solve_candidate(key, params, model, grid, stepping, dtype=case.setup.precision).psi.block_until_ready()
        times.append(time.perf_counter() - begun)
    return {"cold_s": times[0], "warm_s": min(times[1:])}


def run_nan(case: Case) -> dict[str, Any]:
    """How many prior draws come out of ``run_population`` with a non-finite field."""
    import numpy as np

    from irer.model import candidate_keys
    from irer.population import run_population

    setup = case.setup
    model, grid, stepping = _model_objects(setup)
    params = np.array(case.params)
    begun = time.perf_counter()
    out = run_population(params, candidate_keys(HUNT_SEED, 0, len(params)), model, grid, stepping,
                         chunk_size=_chunk(setup, 1, len(params)), device=setup.device, dtype=setup.precision)
    return {"wall_s": time.perf_counter() - begun, "bad": np.flatnonzero(~out.finite).tolist()}


def run_fields(case: Case) -> dict[str, Any]:
    """The generation from K shared initial fields through ``run_candidates``: a first and a warm call."""
    import numpy as np

    from irer.model import field_keys
    from irer.population import run_candidates

    setup = case.setup
    model, grid, stepping = _model_objects(setup)
    params, fields = np.array(case.params), field_keys(HUNT_SEED, case.fields)
    times = []
    for _ in range(2):
        begun = time.perf_counter()
        out = run_candidates(params, fields, model, grid, stepping, chunk_size=_chunk(setup, case.fields, len(params)),
                             device=setup.device,
                             dtype=setup.precision)
        times.append(time.perf_counter() - begun)
    import jax

    device = jax.devices(setup.device if setup.device in ("cpu", "cuda") else None)[0]
    return {"first_s": times[0], "warm_s": times[1], "finite": int(out.finite.sum()), "device_kind": device.device_kind}


def child(case: Case) -> dict[str, Any]:
    return {"vmapped": run_vmapped, "probe": run_probe, "nan": run_nan, "fields": run_fields}[case.kind](case)


# ---------------------------------------------------------------- driving and printing (in the parent)


def jax_env(device: str, precision: str | None) -> dict[str, str]:
    """The JAX variables of every process here: the device choice as ``JAX_PLATFORMS``, x64 for float64."""
    env = {}
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    elif device in ("cuda", "gpu"):
        env["JAX_PLATFORMS"] = "cuda"
    if precision == "float64":
        env["JAX_ENABLE_X64"] = "1"
    return env


def child_env(setup: Setup) -> dict[str, str]:
    return bench_env(jax_env(setup.device, setup.precision))


def launch(argv: list[str], setup: Setup, cwd: Path, what: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one child process and the JSON of its last stdout line."""
    begun = time.perf_counter()
    try:
        done = subprocess.run(bench_command(__spec__.name, *argv), cwd=cwd, env=child_env(setup),
                              capture_output=True, text=True, check=True, timeout=WORKER_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"bench.irer: the {what} process failed (exit {exc.returncode}):\n{exc.stderr[-3000:]}")
    except subprocess.TimeoutExpired:
        raise SystemExit(f"bench.irer: the {what} process ran past {WORKER_TIMEOUT_S} s; try --quick or --steps")
    wall = time.perf_counter() - begun
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def measure(case: Case, cwd: Path) -> tuple[float, dict[str, Any]]:
    return launch(["--case", json.dumps(asdict(case))], case.setup, cwd, f"{case.kind} case")


def run_seed_design(setup: Setup, params: Sequence[Sequence[float]], count: int, work: Path) -> list[dict[str, Any]]:
    """core_engine.execute_hunt's inner loop for ``count`` candidates: config file, worker process, next."""
    config_dir, data_dir = work / "configs", work / "data"
    config_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        begun = time.perf_counter()
        evolved = dict(zip(("kappa", "sigma_k", "alpha"), map(float, params[index])))
        job_uuid = hashlib.sha1(json.dumps(evolved, sort_keys=True).encode("utf-8")).hexdigest()
        config = {"job_uuid": job_uuid, "generation": 0, "candidate": index, "hunt_seed": HUNT_SEED,
                  "data_dir": str(data_dir), "setup": asdict(setup), **evolved}
        config_path = config_dir / f"config_{job_uuid}.json"
        config_path.write_text(json.dumps(config, indent=2))
        _, outcome = launch(["--seed-worker", str(config_path), "--job_uuid", job_uuid], setup, work,
                            f"seed worker {index}")
        outcome.update(wall_s=time.perf_counter() - begun, h5=str(data_dir / f"rho_history_{job_uuid}.h5"))
        rows.append(outcome)
    return rows


def agreement(rows: list[dict[str, Any]], rho_path: Path) -> list[float]:
    """Per candidate, max |rho_seed - rho_vmapped| / max |rho_vmapped| (float rounding only when equal work)."""
    import h5py
    import numpy as np

    vmapped = np.load(rho_path)
    gaps = []
    for index, row in enumerate(rows):
        with h5py.File(row["h5"], "r") as handle:
            seed_rho = handle["final_rho"][...]
        scale = np.abs(vmapped[index]).max()
        gaps.append(float(np.abs(seed_rho - vmapped[index]).max() / scale) if scale > 0 else float("nan"))
    return gaps


def rate(value: float) -> str:
    return f"{value:.3g}"


def configured(args: argparse.Namespace) -> tuple[Setup, str, int]:
    """The generation's settings: configs/irer/hunt.yaml (plain values only), then --quick, then the flags.

    Also the configured (default) steps, which the NaN run uses.
    """
    import yaml

    grid, time_section, execution, population, source = {}, {}, {}, 16, "model defaults"
    if HUNT_CONFIG.is_file():
        section = (yaml.safe_load(HUNT_CONFIG.read_text()) or {}).get("irer", {})
        grid, time_section = section.get("grid", {}), section.get("time", {})
        execution = section.get("execution", {})
        population = int(section.get("ga", {}).get("population_size", population))
        source = str(HUNT_CONFIG.relative_to(REPO))
    device, precision = args.device or execution.get("device", "auto"), execution.get("precision")
    os.environ.update(jax_env(device, precision))  # before this process imports JAX
    from irer.model import Grid, TimeStepping

    base_grid = Grid(**grid) if grid else Grid()
    base_time = TimeStepping(**time_section) if time_section else TimeStepping()
    n, steps, chunk = base_grid.n, base_time.steps, execution.get("chunk_size")
    default_steps = steps
    if args.quick:
        n, steps, population, chunk = 64, 100, 4, None
        source += ", --quick"
    n = args.n or n
    steps = args.steps or steps
    population = args.population or population
    if args.chunk_size is not None:
        chunk = args.chunk_size or None
    setup = Setup(n=n, dx=base_grid.dx, dt=base_time.dt, steps=steps, population=population, chunk_size=chunk,
                  device=device, precision=precision)
    return setup, source, default_steps


def header(setup: Setup, source: str) -> None:
    import h5py
    import jax
    import jaxlib
    import numpy as np

    try:
        devices = ", ".join(str(device) for device in jax.devices())
    except (RuntimeError, AssertionError) as exc:  # jax 0.10 asserts when JAX_PLATFORMS names no usable backend
        reason = str(exc) or type(exc).__name__
        raise SystemExit(f"bench.irer: device {setup.device}: JAX cannot start it ({reason}); "
                         "install a CUDA jaxlib (jax[cuda12]) or use --device cpu")
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    print("# IRER generation benchmark (seed 001 Part 6, components 4 and 6): one worker process per candidate "
          "(the seed's design) vs the vmapped generation in one process")
    print(f"cpus: {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), {model}; python "
          f"{platform.python_version()}; jax {jax.__version__}, jaxlib {jaxlib.__version__}, devices [{devices}] "
          f"(JAX_PLATFORMS={os.environ.get('JAX_PLATFORMS', '')!r}); numpy {np.__version__}, h5py {h5py.__version__}; "
          f"{platform.platform()}")
    precision = setup.precision or "JAX default"
    print(f"generation: {setup.population} candidates, N={setup.n} (dx {setup.dx}), {setup.steps} ETDRK4 steps of dt "
          f"{setup.dt} (t = {setup.steps * setup.dt:g}), {precision}, chunk_size {setup.chunk_size}, device "
          f"{setup.device}; from {source} and the command line")
    print(f"candidates: Prior().sample(np.random.default_rng({PRIOR_SEED}), {setup.population}), keys "
          f"candidate_key({HUNT_SEED}, 0, i); the FieldModel defaults")


def compare(setup: Setup, params: list[list[float]], seed_count: int, work: Path,
            bandwidth_gbs: float | None = None) -> None:
    from bench.margin_repair import print_table, seconds  # the benches' table style; not imported by children
    population, steps = setup.population, setup.steps
    vm_wall, vm = measure(Case("vmapped", setup, params, rho_out=str(work / "vmapped_rho.npy")), work)
    seed_rows = run_seed_design(setup, params, seed_count, work)
    _, probe = measure(Case("probe", setup, params[:1]), work)
    gaps = agreement(seed_rows, work / "vmapped_rho.npy")

    # The seed design, summed over its processes (scaled to the population when fewer were run).
    scale = population / seed_count
    total = {key: sum(row[key] for row in seed_rows) for key in ("wall_s", "imports_s", "backend_s", "solve_s",
                                                                  "compile_s", "write_s")}
    start_up = sum(row["wall_s"] - row["total_s"] + row["before_main_s"] + row["imports_s"] + row["backend_s"]
                   for row in seed_rows)
    compute = total["solve_s"] - total["compile_s"]
    seed_wall = total["wall_s"] * scale
    vm_start = vm_wall - vm["total_s"] + vm["before_main_s"] + vm["imports_s"] + vm["backend_s"]
    vm_compile = vm["first_s"] - vm["warm_s"]
    extrapolated = seed_count < population
    seed_label = "seed design: a worker process per candidate, one after another (core_engine)"
    if extrapolated:
        seed_label += f"; {seed_count} of {population} run, times x{scale:.3g}: EXTRAPOLATED"
    finite_seed = sum(row["finite"] for row in seed_rows)

    def ratio(wall: float) -> str:
        return f"{seed_wall / wall:.1f}x"

    rows = [
        (seed_label, population, seconds(seed_wall), rate(population / seed_wall), "1.0x", seconds(start_up * scale),
         seconds(total["compile_s"] * scale), seconds(compute * scale), seconds(total["write_s"] * scale),
         f"{finite_seed}/{seed_count}"),
        ("vmapped, whole job: 1 process (start-up + first call)", 1, seconds(vm_start + vm["first_s"]),
         rate(population / (vm_start + vm["first_s"])), ratio(vm_start + vm["first_s"]), seconds(vm_start),
         seconds(vm_compile), seconds(vm["warm_s"]), "-", f"{vm['finite']}/{population}"),
        ("vmapped, first call of run_population (compile + run)", "-", seconds(vm["first_s"]),
         rate(population / vm["first_s"]), ratio(vm["first_s"]), "-", seconds(vm_compile), seconds(vm["warm_s"]),
         "-", f"{vm['finite']}/{population}"),
        ("vmapped, warm call of run_population (run only)", "-", seconds(vm["warm_s"]), rate(population / vm["warm_s"]),
         ratio(vm["warm_s"]), "-", "0", seconds(vm["warm_s"]), "-", "same" if vm["warm_equal"] else "DIFFERS"),
    ]
    print_table(f"Generation of {population} at N={setup.n}, {steps} steps: wall seconds (start-up = interpreter "
                f"start + imports + backend start; compile: seed = JAX compile events per process, vmapped = first "
                f"call - warm call; compute: seed = solve - its compile events, vmapped = the warm call)",
                ("design", "processes", "wall s", "candidates/s", "ratio vs seed", "start-up s", "compile s",
                 "compute s", "hdf5 write s", "finite"), rows)
    print(f"\nJAX compile events in the vmapped process: {seconds(vm['compile_events_s'])} s in the first call "
          f"(first - warm = {seconds(vm_compile)} s), {seconds(vm['warm_compile_events_s'])} s in the warm call")
    print(f"agreement: max |rho_seed - rho_vmapped| / max rho over the {seed_count} seed-design candidates: "
          f"{max(gaps):.2e} (same keys, params and steps; float32 rounding only)")
    fields_table(setup, params, seed_wall / population, work, bandwidth_gbs)
    whole = seed_wall / (vm_start + vm["first_s"])
    print(f"target >= {TARGET_RATIO:g}x the seed design's candidates/s: vmapped whole job {whole:.1f}x "
          f"({'met' if whole >= TARGET_RATIO else 'NOT met'}), first call {seed_wall / vm['first_s']:.1f}x, "
          f"warm call {seed_wall / vm['warm_s']:.1f}x")

    per_seed_first = compute / seed_count
    per_vm = vm["warm_s"] / population
    step_rows = [
        ("seed design, steady state: solve_candidate warm in one process (candidate 0, best of 2)",
         seconds(probe["warm_s"]), rate(1 / probe["warm_s"]), f"{probe['warm_s'] / steps * 1e3:.2f}",
         f"{probe['warm_s'] / per_vm:.2f}x"),
        ("seed design, per worker: first solve - its JAX compile events (mean)", seconds(per_seed_first),
         rate(1 / per_seed_first), f"{per_seed_first / steps * 1e3:.2f}", f"{per_seed_first / per_vm:.2f}x"),
        (f"vmapped warm call / {population}", seconds(per_vm), rate(1 / per_vm), f"{per_vm / steps * 1e3:.2f}",
         "1.00x"),
    ]
    print_table("Compute only, per candidate (no start-up, no compile); ratio = its seconds / the vmapped seconds",
                ("side", "s per candidate", "candidates/s", "ms per candidate-step", "ratio"), step_rows)
    print(f"(probe: the first solve_candidate in that process took {seconds(probe['cold_s'])} s, "
          f"compile included)")

    detail = []
    for index, (row, gap) in enumerate(zip(seed_rows, gaps)):
        interpreter = row["wall_s"] - row["total_s"] + row["before_main_s"]
        detail.append((index, *(f"{value:.4g}" for value in params[index]), seconds(row["wall_s"]),
                       seconds(interpreter), seconds(row["imports_s"]), seconds(row["backend_s"]),
                       seconds(row["solve_s"]), seconds(row["compile_s"]), seconds(row["write_s"]),
                       "yes" if row["finite"] else "NO", f"{gap:.1e}"))
    print_table("Seed design, per worker process (solve = first solve_candidate call, compile included)",
                ("candidate", "kappa", "sigma_k", "alpha", "process wall s", "interpreter s", "imports s",
                 "backend s", "solve s", "of which compile s", "hdf5 write s", "finite", "rho gap vs vmapped"), detail)


def roofline(setup: Setup, integration_steps_per_s: float, device_kind: str, bandwidth_gbs: float | None) -> str:
    """The FFT step's share of its memory-bandwidth roofline: the seconds an ETDRK4 step's FFTs need at the
    device's peak bandwidth (each FFT reads and writes its array once) over the measured seconds per step."""
    known = (value for name, value in PEAK_BANDWIDTH_GBS.items() if name in device_kind)
    bandwidth = bandwidth_gbs or next(known, None)
    if bandwidth is None:
        return (f"FFT roofline share: no peak bandwidth known for device {device_kind!r} (pass --bandwidth-gbs): "
                "UNMEASURED")
    bytes_per_step = FFT_BYTES_PER_POINT_STEP[setup.precision or "float32"] * setup.n * setup.n
    achieved = bytes_per_step * integration_steps_per_s / 1e9
    return (f"FFT roofline share on {device_kind}: the FFTs of a step move {bytes_per_step / 1e6:.2f} MB; at "
            f"{integration_steps_per_s:.4g} integration-steps/s that is {achieved:.1f} GB/s of {bandwidth:g} GB/s "
            "peak, "
            f"{achieved / bandwidth:.1%} of the roofline (elementwise ETDRK4 work counted as time, not bytes)")


def fields_table(setup: Setup, params: list[list[float]], seed_per_integration_s: float, work: Path,
                 bandwidth_gbs: float | None = None) -> None:
    """Candidates per second when each is integrated from K fields, against the seed design doing the same work
    (K worker processes per candidate, each one integration, at its measured wall per process)."""
    from bench.margin_repair import print_table, seconds

    rows = []
    for fields in FIELD_COUNTS:
        wall, out = measure(Case("fields", setup, params, fields=fields), work)
        seed_rate = 1.0 / (fields * seed_per_integration_s)
        for label, spent in (("whole job (start-up + first call)", wall), ("warm call", out["warm_s"])):
            rows.append((fields, label, seconds(spent), rate(len(params) / spent), rate(len(params) * fields / spent),
                         rate(seed_rate), f"{len(params) / spent / seed_rate:.1f}x",
                         f"{out['finite']}/{len(params) * fields}"))
    print_table(f"K initial fields per candidate, {len(params)} candidates at N={setup.n}, {setup.steps} steps: the "
                f"seed design at equal work runs K worker processes per candidate ({seconds(seed_per_integration_s)} s "
                "each, measured above)",
                ("K", "vmapped (run_candidates)", "wall s", "candidates/s", "integrations/s",
                 "seed design candidates/s", "ratio", "finite fields"), rows)
    print(roofline(setup, len(params) * FIELD_COUNTS[-1] * setup.steps / out["warm_s"], out["device_kind"],
                   bandwidth_gbs))


def cache_savings(generations: int, population: int, fields: int, n: int, steps: int, device: str, work: Path) -> None:
    """A real hunt through ``runlab submit`` (configs/irer/quickstart.yaml with these sizes): how many candidates
    each generation integrated and how many the ledger served, from the GEN runs' summaries."""
    import yaml

    from bench.margin_repair import print_table, seconds

    config = yaml.safe_load((REPO / "configs" / "irer" / "quickstart.yaml").read_text())
    config["irer"]["hunt"].update(generations=generations, initial_fields=fields)
    config["irer"]["ga"]["population_size"] = population
    config["irer"]["grid"]["n"], config["irer"]["time"]["steps"] = n, steps
    config["irer"]["execution"].update(chunk_size=population, device=device)
    path = work / "cache_hunt.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    root = work / "cache_runs"
    env = bench_env()
    begun = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runlab", "submit", str(REPO / "jobs" / "irer.yaml"), "--config",
                           str(path), "--runs_root", str(root)], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - begun
    if done.returncode != 0:
        print(f"cache hunt FAILED (exit {done.returncode}): {done.stderr.strip()}")
        return
    summaries = sorted((json.loads(path.read_text()) for path in root.glob("RUN_GEN*/results/generation_summary.json")),
                       key=lambda summary: summary["generation"])
    rows = [(s["generation"], s["n_candidates"], s["integrated"], s["served_from_ledger"],
             s["served_from_ledger"] * fields, rate(s["best_fitness_so_far"] or float("nan"))) for s in summaries]
    integrated, served = sum(s["integrated"] for s in summaries), sum(s["served_from_ledger"] for s in summaries)
    rows.append(("all", integrated + served, integrated, served, served * fields, "-"))
    print_table(f"Cache: a {generations}-generation hunt of {population} x K={fields} fields at N={n}, {steps} steps, "
                f"device {device} "
                f"(runlab submit, {seconds(wall)} s): candidates the ledger served instead of integrating",
                ("generation", "candidates", "integrated", "served from ledger", "integrations saved", "best so far"),
                rows)
    print(f"integrations saved: {served * fields} of {(integrated + served) * fields} "
          f"({served / (integrated + served):.1%}); the seed design integrates every candidate, elites included")


def nan_rate(setup: Setup, samples: int, work: Path) -> None:
    import numpy as np

    from bench.margin_repair import print_table, seconds

    from irer.hunter import Prior

    params = Prior().sample(np.random.default_rng(NAN_PRIOR_SEED), samples)
    _, out = measure(Case("nan", setup, params.tolist()), work)
    bad = out["bad"]
    row = (samples, setup.n, f"{setup.steps} x {setup.dt} (t = {setup.steps * setup.dt:g})",
           setup.precision or "default", setup.chunk_size, samples - len(bad), len(bad), f"{len(bad) / samples:.1%}",
           seconds(out["wall_s"]), "met" if not bad else "NOT met")
    print_table(f"NaN rate: Prior().sample(np.random.default_rng({NAN_PRIOR_SEED}), {samples}) through run_population "
                f"(compile included in wall); non-finite = finite flag False",
                ("samples", "N", "steps x dt", "precision", "chunk", "finite", "non-finite", "rate", "wall s",
                 "target 0"), [row])
    if bad:
        shown = bad[:12]
        print_table(f"Non-finite candidates (first {len(shown)} of {len(bad)})",
                    ("sample", "kappa", "sigma_k", "alpha"),
                    [(index, *(f"{value:.4g}" for value in params[index])) for index in shown])


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 candidates, N=64, 100 steps; 32 NaN draws at N=64")
    parser.add_argument("--steps", type=int, help="ETDRK4 steps of the generation (default: configured, 800)")
    parser.add_argument("--n", type=int, help="grid points per side of the generation (default: configured, 128)")
    parser.add_argument("--population", type=int, help="candidates in the generation (default: configured, 16)")
    parser.add_argument("--chunk-size", type=int, help="run_population chunk size (default: configured; 0: all)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where JAX runs (default: configured)")
    parser.add_argument("--seed-candidates", type=int,
                        help="seed-design workers actually run (default: the whole population); fewer are "
                             "extrapolated per candidate, and the table says so")
    parser.add_argument("--nan-samples", type=int, help="prior draws for the NaN rate (default 256, quick 32)")
    parser.add_argument("--nan-n", type=int, help="grid of the NaN run (default: the generation's N, quick 64)")
    parser.add_argument("--nan-steps", type=int, help="steps of the NaN run (default: the configured steps, 800)")
    parser.add_argument("--bandwidth-gbs", type=float,
                        help="the device's peak memory bandwidth for the FFT roofline (default: known GPUs by name)")
    parser.add_argument("--cache-generations", type=int, default=10,
                        help="generations of the hunt whose cache savings are counted (default 10)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--seed-worker", help=argparse.SUPPRESS)
    parser.add_argument("--job_uuid", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_worker:
        print(json.dumps(seed_worker(args.seed_worker, args.job_uuid)))
        return
    if args.case:
        raw = json.loads(args.case)
        print(json.dumps(child(Case(**{**raw, "setup": Setup(**raw["setup"])}))))
        return

    began = time.perf_counter()
    import numpy as np

    setup, source, default_steps = configured(args)
    from irer.hunter import Prior

    seed_count = min(args.seed_candidates or setup.population, setup.population)
    header(setup, source)
    print(f"load average at start (1/5/15 min): {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    params = Prior().sample(np.random.default_rng(PRIOR_SEED), setup.population).tolist()
    work = Path(tempfile.mkdtemp(prefix="irer-bench-"))
    try:
        compare(setup, params, seed_count, work, args.bandwidth_gbs)
        cache_savings(args.cache_generations, 8 if args.quick else 16, 4 if args.quick else 8, 32, 200 if args.quick
                      else 400, setup.device, work)
        nan_setup = Setup(**{**asdict(setup), "n": args.nan_n or (64 if args.quick else setup.n),
                             "steps": args.nan_steps or default_steps,
                             "chunk_size": setup.chunk_size or setup.population})
        nan_rate(nan_setup, args.nan_samples or (32 if args.quick else 256), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average at end (1/5/15 min): {' '.join(f'{load:.2f}' for load in os.getloadavg())}; "
          f"benchmark wall {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
