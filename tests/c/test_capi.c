/*
 * The C API test program (built and run by tests/capi.rs).
 *
 * usage: test_capi ARCHIVE EXPECTED MISSING
 *   EXPECTED: whitespace-separated numbers: n_params n_out, then x1[n_params] y1[n_out]
 *   x2[n_params] y2[n_out] (values the Rust side computed), then x_out[n_params] (a point
 *   outside the training box).
 *   MISSING: a path that does not exist.
 * Prints what it checks; the last line is "ALL OK" and the exit status 0 when everything passed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zelos.h"

static int failures = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stdout, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stdout, __VA_ARGS__);                                  \
            fprintf(stdout, "\n");                                         \
        }                                                                  \
    } while (0)

static int read_doubles(FILE *f, double *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fscanf(f, "%lf", &v[i]) != 1) return 0;
    return 1;
}

static double max_rel_diff(const double *a, const double *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1e-300);
        if (d > worst) worst = d;
    }
    return worst;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s ARCHIVE EXPECTED MISSING\n", argv[0]);
        return 2;
    }

    /* Error paths first: a missing file, NULL arguments. */
    zelos_emulator *bad = (zelos_emulator *)0x1;
    int rc = zelos_emulator_load(argv[3], &bad);
    printf("missing file: code %d (%s): %s\n", rc, zelos_error_name(rc), zelos_last_error_message());
    CHECK(rc == ZELOS_ERR_IO || rc == ZELOS_ERR_ARCHIVE, "missing file gave code %d", rc);
    CHECK(bad == NULL, "*out not reset to NULL on error");
    CHECK(strstr(zelos_last_error_message(), argv[3]) != NULL, "message does not name the file");
    rc = zelos_emulator_load(NULL, &bad);
    CHECK(rc == ZELOS_ERR_INVALID_ARGUMENT, "NULL path gave code %d", rc);
    rc = zelos_emulator_load(argv[1], NULL);
    CHECK(rc == ZELOS_ERR_INVALID_ARGUMENT, "NULL out gave code %d", rc);
    zelos_emulator_free(NULL);
    CHECK(zelos_emulator_n_parameters(NULL) == 0, "n_parameters(NULL) != 0");

    /* Not an archive: the expected-values file itself. */
    rc = zelos_emulator_load(argv[2], &bad);
    printf("not an archive: code %d (%s): %s\n", rc, zelos_error_name(rc), zelos_last_error_message());
    CHECK(rc == ZELOS_ERR_ARCHIVE, "a text file gave code %d", rc);

    /* Load. */
    zelos_emulator *emu = NULL;
    rc = zelos_emulator_load(argv[1], &emu);
    CHECK(rc == ZELOS_OK && emu != NULL, "load failed: %d %s", rc, zelos_last_error_message());
    if (rc != ZELOS_OK) { printf("FAILED\n"); return 1; }

    size_t p = zelos_emulator_n_parameters(emu), n = zelos_emulator_n_outputs(emu);
    printf("n_parameters %zu n_outputs %zu n_named_outputs %zu\n", p, n, zelos_emulator_n_named_outputs(emu));
    for (size_t j = 0; j < p; j++) printf("param %zu %s\n", j, zelos_emulator_parameter_name(emu, j));
    CHECK(zelos_emulator_parameter_name(emu, p) == NULL, "parameter_name out of range is not NULL");
    for (size_t i = 0; i < zelos_emulator_n_named_outputs(emu); i++) {
        const char *name; size_t off, len;
        rc = zelos_emulator_output_info(emu, i, &name, &off, &len);
        CHECK(rc == ZELOS_OK, "output_info %zu: %d", i, rc);
        printf("output %zu %s offset %zu len %zu\n", i, name, off, len);
    }
    rc = zelos_emulator_output_info(emu, 99, NULL, NULL, NULL);
    CHECK(rc == ZELOS_ERR_INVALID_ARGUMENT, "output_info out of range gave %d", rc);

    /* Expected values. */
    FILE *f = fopen(argv[2], "r");
    CHECK(f != NULL, "cannot open %s", argv[2]);
    if (!f) { printf("FAILED\n"); return 1; }
    size_t ep, en;
    CHECK(fscanf(f, "%zu %zu", &ep, &en) == 2 && ep == p && en == n, "expected sizes differ");
    double *x = malloc(2 * p * sizeof(double)), *y = malloc(2 * n * sizeof(double));
    double *xo = malloc(p * sizeof(double));
    CHECK(read_doubles(f, x, p) && read_doubles(f, y, n) && read_doubles(f, x + p, p) &&
          read_doubles(f, y + n, n) && read_doubles(f, xo, p), "cannot read the expected values");
    fclose(f);

    /* Single point. */
    double *out = malloc(2 * n * sizeof(double));
    for (int k = 0; k < 2; k++) {
        rc = zelos_emulator_eval(emu, x + k * p, p, out, n);
        CHECK(rc == ZELOS_OK, "eval: %d %s", rc, zelos_last_error_message());
        double d = max_rel_diff(out, y + k * n, n);
        printf("eval point %d: max relative difference %.3e\n", k, d);
        CHECK(d <= 1e-12, "eval point %d differs from Rust: %g", k, d);
    }
    rc = zelos_emulator_eval(emu, x, p - 1, out, n);
    printf("eval, wrong n_params: code %d (%s): %s\n", rc, zelos_error_name(rc), zelos_last_error_message());
    CHECK(rc == ZELOS_ERR_PARAMETERS, "wrong n_params gave %d", rc);
    rc = zelos_emulator_eval(emu, x, p, out, n + 1);
    CHECK(rc == ZELOS_ERR_PARAMETERS, "wrong n_out gave %d", rc);
    rc = zelos_emulator_eval(emu, NULL, p, out, n);
    CHECK(rc == ZELOS_ERR_INVALID_ARGUMENT, "NULL x gave %d", rc);

    /* Batch. */
    memset(out, 0, 2 * n * sizeof(double));
    rc = zelos_emulator_eval_batch(emu, x, 2, out);
    CHECK(rc == ZELOS_OK, "eval_batch: %d %s", rc, zelos_last_error_message());
    double d = max_rel_diff(out, y, 2 * n);
    printf("eval_batch: max relative difference %.3e\n", d);
    CHECK(d <= 1e-12, "batch differs from Rust: %g", d);

    /* Jacobian against central differences. */
    double *jac = malloc(n * p * sizeof(double)), *fp = malloc(n * sizeof(double)), *fm = malloc(n * sizeof(double));
    rc = zelos_emulator_jacobian(emu, x, out, jac);
    CHECK(rc == ZELOS_OK, "jacobian: %d %s", rc, zelos_last_error_message());
    CHECK(max_rel_diff(out, y, n) <= 1e-12, "jacobian's outputs differ from eval");
    double worst = 0.0;
    for (size_t j = 0; j < p; j++) {
        double xj = x[j], h = 1e-6 * fmax(fabs(xj), 1e-2);
        double scale = 0.0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(jac[i * p + j]));
        x[j] = xj + h; zelos_emulator_eval(emu, x, p, fp, n);
        x[j] = xj - h; zelos_emulator_eval(emu, x, p, fm, n);
        x[j] = xj;
        for (size_t i = 0; i < n; i++) {
            double numeric = (fp[i] - fm[i]) / (2 * h);
            double err = fabs(numeric - jac[i * p + j]) / fmax(scale, 1e-300);
            if (err > worst) worst = err;
        }
    }
    printf("jacobian vs central differences: max error %.3e (relative to the column scale)\n", worst);
    CHECK(worst <= 1e-5, "jacobian differs from finite differences: %g", worst);
    rc = zelos_emulator_jacobian(emu, x, NULL, jac);
    CHECK(rc == ZELOS_OK, "jacobian with out = NULL: %d", rc);

    /* Box and trust region. */
    rc = zelos_emulator_check_point(emu, x);
    CHECK(rc == ZELOS_OK, "check_point inside: %d %s", rc, zelos_last_error_message());
    rc = zelos_emulator_check_point(emu, xo);
    printf("check_point outside: code %d (%s): %s\n", rc, zelos_error_name(rc), zelos_last_error_message());
    CHECK(rc == ZELOS_ERR_OUT_OF_RANGE, "check_point outside gave %d", rc);
    double nanx[64];
    for (size_t j = 0; j < p && j < 64; j++) nanx[j] = x[j];
    nanx[0] = NAN;
    rc = zelos_emulator_check_point(emu, nanx);
    CHECK(rc == ZELOS_ERR_PARAMETERS, "check_point NaN gave %d", rc);

    int inside = -1; double dist = -1;
    rc = zelos_emulator_trust(emu, x, &inside, &dist);
    printf("trust inside point: rc %d inside %d distance %.4f\n", rc, inside, dist);
    CHECK(rc == ZELOS_OK && inside == 1 && dist <= 1.0, "trust inside point");
    rc = zelos_emulator_trust(emu, xo, &inside, &dist);
    printf("trust outside point: rc %d inside %d distance %.4f: %s\n", rc, inside, dist, zelos_last_error_message());
    CHECK(rc == ZELOS_OK && inside == 0 && dist > 1.0, "trust outside point");
    rc = zelos_emulator_trust(emu, nanx, &inside, &dist);
    CHECK(rc == ZELOS_ERR_PARAMETERS, "trust NaN gave %d", rc);

    zelos_emulator_free(emu);
    free(x); free(y); free(xo); free(out); free(jac); free(fp); free(fm);
    if (failures) { printf("FAILED (%d)\n", failures); return 1; }
    printf("ALL OK\n");
    return 0;
}
