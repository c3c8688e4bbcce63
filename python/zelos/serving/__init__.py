"""What the Cobaya theory and the MontePython ``Class`` both do with emulated outputs: one
serving layer under two thin framework adapters (``zelos.cobaya``, ``zelos.montepython``).

- :mod:`.names`: parameter aliases of each code and the derived-parameter name tables (CAMB's,
  CLASS's, Cobaya's classy's, classy's ``get_current_derived_parameters``);
- :mod:`.background`: H(z) and D_M(z) splines through an emulated grid, with the z = 0 node
  (H0, c/H0) below it, and the cache of spline matrices;
- :mod:`.cmb`: D_l [muK^2] <-> C_l with the CMB temperature;
- :mod:`.pk`: the P(k, z) spline (``interpolate.pk_spline``; one redshift: cubic in ln k);
- :mod:`.compare`: relative differences (TE against sqrt(TT EE)), for spot checks, start-up
  checks and the build's accuracy;
- :mod:`.session`: emulator keys (``NAME#2``), the one-code rule, version pins, shared code
  settings and the start-up line naming an emulator.
- :mod:`.compose`: H0 derived by one emulator for another that takes it, in runs that give the
  angle (two routing stages).

Nothing here imports Cobaya or MontePython; both plugins import from here, never from each other.
"""
