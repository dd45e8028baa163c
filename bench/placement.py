"""Where the irer generation runs: ``--device cuda`` must put it on a GPU, ``cpu`` on the CPU (bench/gpu.sh).

    python -m bench.placement --device cuda     # exit 0: every array of a small generation lives on a GPU
    python -m bench.placement --device cpu      # the same check on the CPU (what bench/gpu.sh --dry_run runs)

Prints one line: the device JAX resolved, the platform each output array was computed on, and the
result; exit 2 with the runtime's one-line error when the device cannot be had (no GPU visible), exit 1
when an array landed elsewhere.
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), required=True)
    args = parser.parse_args()
    import jax
    import jax.numpy as jnp

    from irer.model import FieldModel, Grid, field_keys
    from irer.population import _generation_jit, resolve_device
    from irer.solver import spectral_setup
    from runlab import RunlabError

    try:
        device = resolve_device(args.device)
    except RunlabError as exc:
        print(f"placement: {exc.message}", file=sys.stderr)
        return 2
    setup = jax.device_put(spectral_setup(FieldModel(), Grid(n=16), 0.25, "float32"), device)
    params = jax.device_put(jnp.array([[0.02, 0.5, 0.3], [0.05, 0.8, 0.6]], dtype=jnp.float32), device)
    outputs = [array for array in _generation_jit(setup, params, jax.device_put(field_keys(0, 2), device), steps=4,
                                                   snapshots=0) if array is not None]
    platforms = sorted({d.platform for array in outputs for d in array.devices()})
    wanted = "gpu" if args.device == "cuda" else "cpu"
    ok = platforms == [wanted]
    print(f"placement: --device {args.device} resolved to {device} ({device.platform}); outputs on {platforms}: "
          f"{'OK' if ok else 'WRONG DEVICE'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
