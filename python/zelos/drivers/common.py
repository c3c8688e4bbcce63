"""What every driver shares: the output names, the request (:class:`OutputRequest`), the errors
and the description of a refused setting. Imported by the drivers (``camb``, ``classy``) and
re-exported by the package, which dispatches to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPECTRA = ("tt", "te", "ee", "bb", "pp")
# Functions of redshift on the background grid; the growth ones need the code's perturbations.
GROWTH = ("sigma8_z", "fsigma8")
BACKGROUND = ("H", "D_A", "D_M", "D_V") + GROWTH
DERIVED = ("H0", "sigma8", "S8", "rdrag", "thetastar", "zdrag", "zstar", "rstar", "age",
           "omegam", "omegal", "zre")
# The derived parameters that need the code's perturbations (its matter power).
PERTURBED_DERIVED = ("sigma8", "S8")


try:  # the base of every zelos error (a stand-in where the Rust extension is not built)
    from .._zelos import ZelosError
except ImportError:  # pragma: no cover
    class ZelosError(Exception):
        """Base class of every zelos error."""


class VersionMismatch(ZelosError, ValueError):
    """The installed code's version differs from the one the spec pins."""


class ComputationError(ZelosError, RuntimeError):
    """The code refused or failed at this point (e.g. parameters outside its valid range).

    A property of the point, not of the set-up: generation records it and goes on.
    """


@dataclass(frozen=True)
class SettingProblem:
    """A spec's code setting the driver refuses, found when the spec is read (docs/reliability.md).

    ``key``: the setting's name; ``found``: what the spec gives, in words; ``expected``: what the
    driver takes there; ``suggestion``: a known name close to ``key`` (for typos), if any;
    ``section``: where ``key`` is in the spec."""

    key: str
    found: str
    expected: str
    suggestion: str | None = None
    section: str = "code.settings"  # or "parameters" for a varied parameter's name

    def message(self) -> str:
        hint = f"; did you mean `{self.suggestion}`?" if self.suggestion else ""
        return f"`{self.section}.{self.key}`: found {self.found}; expected {self.expected}{hint}"


def describe_value(value) -> str:
    """A spec value in words, as errors quote it: ``the string 'zero'``, ``the number 1``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (list, tuple)):
        return f"the list {list(value)!r}"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


def _grid(values, name: str, positive: bool) -> np.ndarray | None:
    if values is None:
        return None
    a = np.array(values, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"OutputRequest.{name}: expected a non-empty list of finite numbers")
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"OutputRequest.{name}: values must be strictly ascending")
    if positive and a[0] <= 0 or not positive and a[0] < 0:
        raise ValueError(f"OutputRequest.{name}: values must be {'> 0' if positive else '>= 0'}")
    a.setflags(write=False)
    return a


def _subset(values, allowed, name: str) -> tuple:
    values = tuple(values)
    bad = [v for v in values if v not in allowed]
    if bad or len(set(values)) != len(values):
        raise ValueError(f"OutputRequest.{name}: {values!r} must be distinct names among {allowed}")
    return values


def _jsonable(x):
    """``x`` with numpy values made plain Python and anything else unknown made its repr."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic, np.ndarray)):
        return x.tolist()
    return x if x is None or isinstance(x, (bool, int, float, str)) else repr(x)


@dataclass(frozen=True, eq=False)
class OutputRequest:
    """What a driver computes: CMB spectra, P(k, z), background functions, derived parameters."""

    spectra: tuple = ()
    lmin: int = 2
    lmax: int = 0
    lensed: bool = True
    pk_linear: bool = False
    pk_nonlinear: bool = False
    k: np.ndarray | None = None  # 1/Mpc, ascending
    z_pk: np.ndarray | None = None  # ascending
    background: tuple = ()
    z_bg: np.ndarray | None = None
    derived: tuple = ()

    def __post_init__(self):
        put = object.__setattr__  # frozen: normalise once, here
        put(self, "spectra", _subset(self.spectra, SPECTRA, "spectra"))
        put(self, "background", _subset(self.background, BACKGROUND, "background"))
        put(self, "derived", _subset(self.derived, DERIVED, "derived"))
        put(self, "k", _grid(self.k, "k", positive=True))
        put(self, "z_pk", _grid(self.z_pk, "z_pk", positive=False))
        put(self, "z_bg", _grid(self.z_bg, "z_bg", positive=False))
        put(self, "lmin", int(self.lmin))
        put(self, "lmax", int(self.lmax))
        if self.spectra and not 2 <= self.lmin <= self.lmax:
            raise ValueError(f"OutputRequest: need 2 <= lmin <= lmax, got lmin={self.lmin}, lmax={self.lmax}")
        if (self.pk_linear or self.pk_nonlinear) and (self.k is None or self.z_pk is None):
            raise ValueError("OutputRequest: P(k) needs both k and z_pk")
        if self.background and self.z_bg is None:
            raise ValueError("OutputRequest: background functions need z_bg")
        if not self.names():
            raise ValueError("OutputRequest: nothing requested")

    @property
    def growth(self) -> tuple:
        """The growth functions among ``background`` (sigma8_z, fsigma8): they need perturbations."""
        return tuple(f for f in self.background if f in GROWTH)

    def names(self) -> list:
        """The output names, in the order drivers report them: spectra in the order tt, te, ee,
        bb, pp (as the spec's networks), then P(k), then background and derived as requested."""
        out = [f"dl_{s}" for s in SPECTRA if s in self.spectra]
        out += ["pk_lin"] * self.pk_linear + ["pk_nonlin"] * self.pk_nonlinear
        return out + list(self.background) + list(self.derived)

    def split(self) -> tuple:
        """``(background part, rest)``: the request of what the code's background and thermal
        history alone determine (background functions but the growth ones, derived parameters but
        sigma8 and S8), whatever else the run computed, and the request of the rest (C_l, P(k),
        growth, sigma8: they depend on how the perturbations were computed: l and k ranges,
        redshifts, accuracy). Either is None when empty."""
        import dataclasses

        bg = tuple(b for b in self.background if b not in GROWTH)
        derived = tuple(d for d in self.derived if d not in PERTURBED_DERIVED)
        empty = dict(spectra=(), pk_linear=False, pk_nonlinear=False)
        first = dataclasses.replace(self, **empty, background=bg, derived=derived) if bg or derived else None
        rest_bg = tuple(b for b in self.background if b in GROWTH)
        rest_derived = tuple(d for d in self.derived if d in PERTURBED_DERIVED)
        has_rest = self.spectra or self.pk_linear or self.pk_nonlinear or rest_bg or rest_derived
        rest = dataclasses.replace(self, background=rest_bg, derived=rest_derived) if has_rest else None
        return first, rest

    def to_dict(self) -> dict:
        """JSON-able form (stored with training sets to refuse resuming with another request)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return {f: (v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v)
                for f, v in d.items()}

    def output_shapes(self) -> dict:
        """``{name: shape}`` of what a driver's ``compute`` returns, in :meth:`names`' order."""
        shapes = {}
        for name in self.names():
            if name.startswith("dl_"):
                shapes[name] = (self.lmax - self.lmin + 1,)
            elif name.startswith("pk_"):
                shapes[name] = (len(self.z_pk), len(self.k))
            elif name in BACKGROUND:
                shapes[name] = (len(self.z_bg),)
            else:
                shapes[name] = ()
        return shapes

    def describe(self, code: str, version: str, settings: dict) -> dict:
        """What determines a driver's outputs: its ``code``, installed ``version`` and
        ``settings`` with this request (stored with training sets; JSON-able)."""
        return {"code": code, "version": version, "settings": _jsonable(settings), "request": self.to_dict()}

    def __eq__(self, other):
        return isinstance(other, OutputRequest) and self.to_dict() == other.to_dict()

    __hash__ = None


def finite_in_request_order(request: "OutputRequest", out: dict, missing: dict) -> tuple:
    """A driver's ``read_run`` answer: ``(outputs in the request's order, missing)``, an output
    that is not finite moved from ``out`` to ``missing``."""
    for name in [n for n, v in out.items() if not np.all(np.isfinite(v))]:
        missing[name] = "not finite"
        del out[name]
    return {n: out[n] for n in request.names() if n in out}, missing
