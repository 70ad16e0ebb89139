"""Array backends for the simulator: numpy (default) or torch (CUDA when present).

Both expose the same few ops the student needs, so one implementation of the dynamics serves both;
random numbers come from one generator per simulated seed, so a seed's trajectory does not depend on
how many seeds run beside it (numpy and torch streams differ from each other).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, MissingDependencyError

BACKENDS = ("numpy", "torch")
DTYPES = ("float32", "float64")


class NumpyOps:
    name = "numpy"

    def __init__(self, dtype: str = "float32"):
        from scipy import special

        self.dtype = np.dtype(dtype)
        self._erf = special.erf
        self.device = "cpu"

    # math used by the activations
    tanh = staticmethod(np.tanh)
    exp = staticmethod(np.exp)
    maximum = staticmethod(np.maximum)
    matmul = staticmethod(np.matmul)

    def erf(self, x):
        return self._erf(x)

    def generator(self, seed: int | tuple[int, ...]):
        return np.random.default_rng(seed)

    def randn_into(self, out, gen) -> None:
        gen.standard_normal(out.shape, dtype=self.dtype, out=out)

    def empty(self, shape):
        return np.empty(shape, dtype=self.dtype)

    def asarray(self, x):
        return np.asarray(x, dtype=self.dtype)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)


class TorchOps:
    name = "torch"

    def __init__(self, dtype: str = "float32", device: str | None = None):
        try:
            import torch
        except ImportError:
            raise MissingDependencyError("torch", "torch", "the torch backend of datadiet.reuse") from None
        self.torch = torch
        self.dtype = getattr(torch, dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tanh, self.exp, self.matmul, self.maximum = torch.tanh, torch.exp, torch.matmul, torch.maximum
        self.erf = torch.special.erf

    def generator(self, seed: int | tuple[int, ...]):
        # torch generators take one integer: fold a tuple seed through numpy's SeedSequence
        s = int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0] >> 1)
        return self.torch.Generator(device=self.device).manual_seed(s)

    def randn_into(self, out, gen) -> None:
        out.normal_(generator=gen)

    def empty(self, shape):
        return self.torch.empty(shape, dtype=self.dtype, device=self.device)

    def asarray(self, x):
        if isinstance(x, self.torch.Tensor):
            return x.to(device=self.device, dtype=self.dtype)
        return self.torch.as_tensor(np.asarray(x), dtype=self.dtype, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        return x.detach().to("cpu", self.torch.float64).numpy()


def get_ops(backend: str = "numpy", dtype: str = "float32", device: str | None = None):
    if backend not in BACKENDS:
        raise InputError(f"--backend {backend!r} is not one of: {', '.join(BACKENDS)}")
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype!r} is not one of: {', '.join(DTYPES)}")
    return NumpyOps(dtype) if backend == "numpy" else TorchOps(dtype, device)
