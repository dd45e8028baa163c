"""CUDA devices a job can see, counted through the CUDA driver API (``libcuda.so.1``) with ctypes.

runlab imports neither torch nor JAX: the driver alone says how many devices this process may use
(``CUDA_VISIBLE_DEVICES`` applied). No driver library, or a driver that fails to initialise, is 0 devices.
"""

from __future__ import annotations

import ctypes

from .errors import DeterminismError

__all__ = ["require_cuda_devices", "visible_cuda_devices"]

_CUDA_SUCCESS = 0


def visible_cuda_devices() -> int:
    """Number of CUDA devices visible to this process (``cuInit(0)`` then ``cuDeviceGetCount``)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    driver.cuInit.argtypes = [ctypes.c_uint]
    driver.cuDeviceGetCount.argtypes = [ctypes.POINTER(ctypes.c_int)]
    if driver.cuInit(0) != _CUDA_SUCCESS:
        return 0
    count = ctypes.c_int(0)
    if driver.cuDeviceGetCount(ctypes.byref(count)) != _CUDA_SUCCESS:
        return 0
    return count.value


def require_cuda_devices(wanted: int, who: str) -> None:
    """Fail closed (exit 2) when fewer than ``wanted`` CUDA devices are visible: a GPU stage that ran on
    the CPU instead would give other numbers than the run it claims to be."""
    visible = visible_cuda_devices()
    if visible < wanted:
        raise DeterminismError(
            f"{who} asks for {wanted} GPU(s) but this job sees {visible} CUDA device(s)",
            "run it on GPU nodes (the profile's partition or constraint) and, in a container, with the "
            "driver passed in; or set the stage's resources.gpus to 0 to run it on the CPU",
        )
