/*
 * zelos.h: the C API of zelos (emulators of cosmological Boltzmann codes).
 *
 * Kept by hand in step with src/capi.rs (tests/capi.rs checks every exported function is
 * declared here). Link against the zelos shared library (libzelos.so / libzelos.dylib /
 * zelos.dll), built by `cargo build --release`. Guide: docs/c-api.md.
 *
 * Conventions:
 *  - Functions returning int return ZELOS_OK (0) or one of the ZELOS_ERR_* codes; on error,
 *    zelos_last_error_message() gives the reason (thread-local).
 *  - No function aborts or unwinds into C: a Rust panic becomes ZELOS_ERR_PANIC.
 *  - Strings returned (names) are owned by the emulator: valid until zelos_emulator_free.
 *  - Arrays are caller-allocated, double, row-major.
 *  - A loaded emulator may be used from several threads at once (all queries are read-only);
 *    free it only once no thread uses it.
 */
#ifndef ZELOS_H
#define ZELOS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. */
#define ZELOS_OK                   0 /* success */
#define ZELOS_ERR_SPEC             1 /* the emulator spec (YAML) is malformed or inconsistent */
#define ZELOS_ERR_ARCHIVE          2 /* the archive is malformed, tampered with or unsafe */
#define ZELOS_ERR_MODEL            3 /* the evaluation graph or region data is inconsistent */
#define ZELOS_ERR_PARAMETERS       4 /* wrong number of values, non-finite values, wrong buffer length */
#define ZELOS_ERR_OUT_OF_RANGE     5 /* a parameter lies outside the training box */
#define ZELOS_ERR_IO               6 /* reading a file failed (e.g. it does not exist) */
#define ZELOS_ERR_INVALID_ARGUMENT 7 /* NULL pointer, index out of range, path not UTF-8 */
#define ZELOS_ERR_PANIC            8 /* a bug in zelos; the message says where */
#define ZELOS_ERR_OUT_OF_MEMORY    9 /* scratch memory for a batch could not be allocated */

/* An emulator loaded from an archive (opaque). */
typedef struct zelos_emulator zelos_emulator;

/* Errors. */
const char *zelos_last_error_message(void);  /* "" if none; valid until the next failing call on this thread */
const char *zelos_error_name(int code);      /* static: "ok", "spec", "archive", ...; never NULL */

/* Loading and freeing. On error *out is set to NULL. */
int zelos_emulator_load(const char *path, zelos_emulator **out);
void zelos_emulator_free(zelos_emulator *emu); /* NULL is a no-op */

/* Description. Names are owned by the emulator. */
size_t zelos_emulator_n_parameters(const zelos_emulator *emu);
const char *zelos_emulator_parameter_name(const zelos_emulator *emu, size_t i); /* NULL if i out of range */
size_t zelos_emulator_n_outputs(const zelos_emulator *emu);       /* length of the flat output vector */
size_t zelos_emulator_n_named_outputs(const zelos_emulator *emu); /* dl_tt, sigma8, ... */
int zelos_emulator_output_info(const zelos_emulator *emu, size_t i,
                               const char **name, size_t *offset, size_t *len); /* any out may be NULL */

/* Evaluation. x in parameter order; the box is not checked (see check_point / trust). */
int zelos_emulator_eval(const zelos_emulator *emu, const double *x, size_t n_params,
                        double *out, size_t n_out);
/* x: [n_points, n_parameters] row-major; out: [n_points, n_outputs] row-major. */
int zelos_emulator_eval_batch(const zelos_emulator *emu, const double *x, size_t n_points, double *out);
/* out: [n_outputs] (may be NULL); jac: [n_outputs, n_parameters] row-major, d out[i] / d x[j]. */
int zelos_emulator_jacobian(const zelos_emulator *emu, const double *x, double *out, double *jac);

/* Where the emulator may answer. */
/* ZELOS_OK inside the training box, ZELOS_ERR_OUT_OF_RANGE outside, ZELOS_ERR_PARAMETERS if not finite. */
int zelos_emulator_check_point(const zelos_emulator *emu, const double *x);
/* Every trust method of the spec: *inside = 1 or 0; *distance = the deciding method's distance
   (box: 1 on the boundary; NaN if nothing could be checked). Outside: the reason is in
   zelos_last_error_message() and the call returns ZELOS_OK. */
int zelos_emulator_trust(const zelos_emulator *emu, const double *x, int *inside, double *distance);

#ifdef __cplusplus
}
#endif

#endif /* ZELOS_H */
