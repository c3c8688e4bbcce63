"""classy's accessors on MontePython's ``Class``: each answered from the emulators at an emulated
point (``emulated.Served``), else by the code, to the module it needs, as classy's own accessors
compute what they need."""

from __future__ import annotations

from .emulated import NotServed, Served
from .errors import real_classy
from .levels import expand

__all__ = ["ClassyAccessors"]


class ClassyAccessors:
    """The accessors, a part of :class:`zelos.montepython.cosmo.Class` (mixed into it: they use
    its current point and the code's runs)."""

    def _current(self):
        if not self._computed or self._point is None:
            self.compute()
        return self._point

    def _answer(self, name, level, served, *args):
        """``served(Served, *args)`` at an emulated point, else the code's ``name(*args)``."""
        p = self._current()
        reason = fallback = output = None
        if p.served is not None:
            try:
                return served(p.served, *args)
            except NotServed as e:
                reason, fallback, output = _why(name, e)
        backend = (self._rest(p, expand(level), reason, fallback, output) if p.mode == "emulated"
                   else self._run_code(p, expand(level)))
        attr = getattr(backend, name)
        if isinstance(attr, float):  # a classy property (a CallableFloat)
            return attr
        return attr(*args)

    def _scalar(self, name, level="thermodynamics"):
        return self._answer(name, level, lambda s: s.scalar(name))

    # classy's scalar properties (callable too: `cosmo.h()` and `cosmo.h`)
    h = property(lambda self: self._scalar("h", "background"))
    H0 = property(lambda self: self._scalar("H0", "background"))
    Omega_m = property(lambda self: self._scalar("Omega_m", "background"))
    Omega_b = property(lambda self: self._scalar("Omega_b", "background"))
    omega_b = property(lambda self: self._scalar("omega_b", "background"))
    Omega_cdm = property(lambda self: self._scalar("Omega_cdm", "background"))
    Omega_Lambda = property(lambda self: self._scalar("Omega_Lambda", "background"))
    Omega_k = property(lambda self: self._scalar("Omega_k", "background"))
    T_cmb = property(lambda self: self._scalar("T_cmb", "background"))
    n_s = property(lambda self: self._scalar("n_s", "primordial"))
    age = property(lambda self: self._scalar("age", "background"))
    rs_drag = property(lambda self: self._scalar("rs_drag"))
    z_reio = property(lambda self: self._scalar("z_reio"))
    tau_reio = property(lambda self: self._scalar("tau_reio"))
    theta_s_100 = property(lambda self: self._scalar("theta_s_100"))
    theta_star_100 = property(lambda self: self._scalar("theta_star_100"))
    sigma8 = property(lambda self: self._scalar("sigma8", "fourier"))
    S8 = property(lambda self: self._scalar("S8", "fourier"))
    Neff = property(lambda self: self._answer("Neff", "background", _not_emulated("Neff")))

    def Omega0_m(self):
        return float(self._answer("Omega0_m", "background", lambda s: s.scalar("Omega0_m")))

    def Omega0_k(self):
        return float(self._answer("Omega0_k", "background", lambda s: s.scalar("Omega0_k")))

    def Omega0_cdm(self):
        return float(self._answer("Omega0_cdm", "background", lambda s: s.scalar("Omega0_cdm")))

    def Hubble(self, z):
        return self._answer("Hubble", "background", Served.Hubble, z)

    def angular_distance(self, z):
        return self._answer("angular_distance", "background", Served.angular_distance, z)

    def luminosity_distance(self, z):
        return self._answer("luminosity_distance", "background", Served.luminosity_distance, z)

    def comoving_distance(self, z):
        return self._answer("comoving_distance", "background", Served.comoving_distance, z)

    def z_of_r(self, z):
        return self._answer("z_of_r", "background", Served.z_of_r, z)

    def scale_independent_growth_factor(self, z):
        return self._answer("scale_independent_growth_factor", "background",
                            _not_emulated("scale_independent_growth_factor"), z)

    def scale_independent_growth_factor_f(self, z):
        return self._answer("scale_independent_growth_factor_f", "background",
                            _not_emulated("scale_independent_growth_factor_f"), z)

    def pk(self, k, z):
        return self._answer("pk", "fourier", Served.pk, k, z)

    def pk_lin(self, k, z):
        return self._answer("pk_lin", "fourier", Served.pk_lin, k, z)

    def sigma(self, R, z, h_units=False):
        return self._answer("sigma", "fourier", Served.sigma, R, z, h_units)

    def lensed_cl(self, lmax=-1, nofail=False):
        return self._answer("lensed_cl", "lensing", lambda s, l, n: s.cls(True, int(l), n), lmax, nofail)

    def raw_cl(self, lmax=-1, nofail=False):
        return self._answer("raw_cl", "harmonic", lambda s, l, n: s.cls(False, int(l), n), lmax, nofail)

    def get_current_derived_parameters(self, names):
        """classy's derived parameters by name: emulated where an emulator has them (or they are
        inputs), the rest from the code, in one dict."""
        if type(names) is not list:
            raise TypeError("Deprecated")
        p = self._current()
        out, rest, first = {}, [], None
        for name in names:
            if p.served is None:
                rest.append(name)
                continue
            try:
                out[name] = p.served.derived(name)
            except NotServed as e:
                rest.append(name)
                first = first or e
        reason = fallback = output = None
        if first is not None:  # every derived parameter the code computes, and why the first is not emulated
            reason, fallback, output = _why(f"derived {', '.join(rest)}", first)
        if rest:
            level = expand("fourier" if {"sigma8", "sigma8_cb"} & set(rest) else "thermodynamics")
            backend = (self._rest(p, level, reason, fallback, output) if p.mode == "emulated"
                       else self._run_code(p, level))
            out.update(backend.get_current_derived_parameters(rest))
        return {name: out[name] for name in names}

    def __getattr__(self, name):
        """Any other classy accessor: the code, at this point, to the level ``compute`` was asked
        for (classy's other accessors compute what they need themselves)."""
        if name.startswith("_") or not _code_has(self._code, name):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        p = self._current()
        level = p.level if p.level else expand("distortions")
        backend = (self._rest(p, level, f"{name}: not emulated") if p.mode == "emulated"
                   else self._run_code(p, level))
        return getattr(backend, name)


def _why(what, e: NotServed) -> tuple:
    """``(reason, fallback, output)`` of a call the emulators could not answer: the output and
    the router's reason when a loaded emulator has the output but none covers the point (the
    same words at every such point), else the call and the message."""
    if e.fallback is not None:
        return f"{e.output}: {e.fallback.kind}", e.fallback, e.output
    return f"{what}: {e}", None, None


def _code_has(code, name) -> bool:
    """Whether the code's classy-like class has accessor ``name`` (before computing anything)."""
    if code == "camb":
        from .camb_class import CambClass

        return name in dir(CambClass)
    classy = real_classy()
    return classy is None or hasattr(classy.Class, name)


def _not_emulated(name):
    def served(s, *args):
        raise NotServed(f"`{name}` is not emulated")
    return served
