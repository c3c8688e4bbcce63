//! The C API: load an archive, evaluate, Jacobian, trust-region query, free; error codes and
//! a thread-local error message. The declarations live in `include/zelos.h` (kept by hand in step
//! with this file; `tests/capi.rs` checks every exported name appears there), the guide in
//! `docs/c-api.md`.
//!
//! Rules every function here follows:
//! * no panic crosses the boundary: each body runs under `catch_unwind`, a panic becomes
//!   `ZELOS_ERR_PANIC` with the panic message;
//! * a function returning `int` returns `ZELOS_OK` (0) or an error code, and on error sets the
//!   thread's last error message (`zelos_last_error_message`);
//! * null pointers are checked and reported (`ZELOS_ERR_INVALID_ARGUMENT`), never dereferenced;
//! * strings handed out (parameter and output names) are owned by the emulator and stay valid
//!   until `zelos_emulator_free`.

#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{c_char, c_double, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::archive::ArchiveError;
use crate::emulator::Emulator;
use crate::error::Error;
use crate::region::TrustRegion;

/// Success.
pub const ZELOS_OK: c_int = 0;
/// The emulator spec (YAML) is malformed or inconsistent.
pub const ZELOS_ERR_SPEC: c_int = 1;
/// The archive is malformed, tampered with or unsafe.
pub const ZELOS_ERR_ARCHIVE: c_int = 2;
/// The evaluation graph (model.json + weights, or the region data) is inconsistent.
pub const ZELOS_ERR_MODEL: c_int = 3;
/// The parameter values are unusable (wrong count, not finite) or a buffer length is wrong.
pub const ZELOS_ERR_PARAMETERS: c_int = 4;
/// A parameter lies outside the training box.
pub const ZELOS_ERR_OUT_OF_RANGE: c_int = 5;
/// Reading a file failed (e.g. it does not exist).
pub const ZELOS_ERR_IO: c_int = 6;
/// A null pointer, an index out of range or a path that is not UTF-8.
pub const ZELOS_ERR_INVALID_ARGUMENT: c_int = 7;
/// A bug: zelos panicked; the message says where.
pub const ZELOS_ERR_PANIC: c_int = 8;
/// Memory for the evaluation could not be allocated (a batch too large for this machine).
pub const ZELOS_ERR_OUT_OF_MEMORY: c_int = 9;

/// An emulator loaded for C callers (opaque in C): the emulator, its trust region, and the
/// names as C strings so that pointers handed out stay valid as long as the emulator.
pub struct zelos_emulator {
    emulator: Emulator,
    trust: TrustRegion,
    parameter_names: Vec<CString>,
    output_names: Vec<CString>,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

struct Failure {
    code: c_int,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Spec(_) => ZELOS_ERR_SPEC,
            Error::Archive(ArchiveError::Io { .. }) => ZELOS_ERR_IO,
            Error::Archive(_) => ZELOS_ERR_ARCHIVE,
            Error::Model { .. } => ZELOS_ERR_MODEL,
            Error::Parameters(_) => ZELOS_ERR_PARAMETERS,
            Error::OutOfRange(_) => ZELOS_ERR_OUT_OF_RANGE,
            Error::Io { .. } => ZELOS_ERR_IO,
            Error::OutOfMemory(_) => ZELOS_ERR_OUT_OF_MEMORY,
        };
        Failure { code, message: e.to_string() }
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure { code: ZELOS_ERR_INVALID_ARGUMENT, message: message.into() }
}

fn set_last_error(message: &str) {
    // Interior NULs cannot appear in a C string: replace them.
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c);
}

/// Runs `f`, turning an error or a panic into a code and the thread's last error message.
fn guard(f: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ZELOS_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!("zelos panicked (a bug; please report it): {what}"));
            ZELOS_ERR_PANIC
        }
    }
}

/// Runs `f` for a query returning a value, `fallback` on a panic.
fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// The emulator behind `emu`, or an error for a null pointer.
///
/// # Safety
/// `emu` must be null or a pointer returned by `zelos_emulator_load` and not yet freed.
unsafe fn emulator<'a>(emu: *const zelos_emulator) -> Result<&'a zelos_emulator, Failure> {
    // SAFETY: the caller guarantees `emu` is null or a live pointer from `zelos_emulator_load`
    // (a `Box<zelos_emulator>`); `as_ref` maps null to None.
    unsafe { emu.as_ref() }.ok_or_else(|| invalid("the emulator pointer is NULL"))
}

/// A read-only slice of `len` doubles at `ptr`, or an error for a null pointer.
///
/// # Safety
/// `ptr` must be null or point to `len` readable, initialised doubles.
unsafe fn slice<'a>(ptr: *const c_double, len: usize, what: &str) -> Result<&'a [f64], Failure> {
    if ptr.is_null() {
        return Err(invalid(format!("`{what}` is NULL")));
    }
    // SAFETY: non-null, and the caller guarantees `len` readable doubles at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A writable slice of `len` doubles at `ptr`, or an error for a null pointer.
///
/// # Safety
/// `ptr` must be null or point to `len` writable doubles not aliased by any other slice in use.
unsafe fn slice_mut<'a>(ptr: *mut c_double, len: usize, what: &str) -> Result<&'a mut [f64], Failure> {
    if ptr.is_null() {
        return Err(invalid(format!("`{what}` is NULL")));
    }
    // SAFETY: non-null, and the caller guarantees `len` writable, unaliased doubles at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// The message of the last failed call on this thread ("" if none). The pointer stays valid
/// until the next failing `zelos_` call on the same thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn zelos_last_error_message() -> *const c_char {
    guard_value(std::ptr::null(), || LAST_ERROR.with(|slot| slot.borrow().as_ptr()))
}

/// A static name for an error code ("ok", "spec", "archive", ...); never NULL.
#[no_mangle]
pub extern "C" fn zelos_error_name(code: c_int) -> *const c_char {
    let name: &'static CStr = match code {
        ZELOS_OK => c"ok",
        ZELOS_ERR_SPEC => c"spec",
        ZELOS_ERR_ARCHIVE => c"archive",
        ZELOS_ERR_MODEL => c"model",
        ZELOS_ERR_PARAMETERS => c"parameters",
        ZELOS_ERR_OUT_OF_RANGE => c"out of range",
        ZELOS_ERR_IO => c"io",
        ZELOS_ERR_INVALID_ARGUMENT => c"invalid argument",
        ZELOS_ERR_PANIC => c"panic",
        _ => c"unknown",
    };
    name.as_ptr()
}

/// Loads the archive at `path` (UTF-8, NUL-terminated) into `*out`. On error `*out` is set to
/// NULL. Free the emulator with `zelos_emulator_free`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `out` must be null or a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_load(path: *const c_char, out: *mut *mut zelos_emulator) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(invalid("`out` is NULL"));
        }
        // SAFETY: `out` is non-null and the caller guarantees it is writable.
        unsafe { *out = std::ptr::null_mut() };
        if path.is_null() {
            return Err(invalid("`path` is NULL"));
        }
        // SAFETY: non-null, and the caller guarantees a NUL-terminated string.
        let path = unsafe { CStr::from_ptr(path) }.to_str().map_err(|_| invalid("`path` is not UTF-8"))?;
        let emulator = Emulator::load(Path::new(path))?;
        let trust = TrustRegion::from_emulator(&emulator)?;
        let c = |s: &str| CString::new(s.replace('\0', "\\0")).unwrap_or_default();
        let parameter_names = emulator.parameters().iter().map(|s| c(s)).collect();
        let output_names = emulator.outputs().iter().map(|o| c(&o.name)).collect();
        let boxed = Box::new(zelos_emulator { emulator, trust, parameter_names, output_names });
        // SAFETY: as above, `out` is non-null and writable.
        unsafe { *out = Box::into_raw(boxed) };
        Ok(())
    })
}

/// Frees an emulator from `zelos_emulator_load`; NULL is a no-op.
///
/// # Safety
/// `emu` must be null or a pointer from `zelos_emulator_load` not yet freed; it must not be
/// used afterwards.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_free(emu: *mut zelos_emulator) {
    if emu.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees `emu` came from `Box::into_raw` in
        // `zelos_emulator_load` and is freed once.
        drop(unsafe { Box::from_raw(emu) });
    }));
}

/// The number of parameters (0 for NULL).
///
/// # Safety
/// `emu` must be null or a live emulator.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_n_parameters(emu: *const zelos_emulator) -> usize {
    // SAFETY: the caller guarantees `emu` is null or live.
    guard_value(0, || unsafe { emulator(emu) }.map_or(0, |e| e.emulator.parameters().len()))
}

/// The name of parameter `i` (owned by the emulator; NULL if `i` is out of range).
///
/// # Safety
/// `emu` must be null or a live emulator.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_parameter_name(emu: *const zelos_emulator, i: usize) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: the caller guarantees `emu` is null or live.
        match unsafe { emulator(emu) } {
            Ok(e) => e.parameter_names.get(i).map_or(std::ptr::null(), |s| s.as_ptr()),
            Err(_) => std::ptr::null(),
        }
    })
}

/// The length of the flat output vector (0 for NULL).
///
/// # Safety
/// `emu` must be null or a live emulator.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_n_outputs(emu: *const zelos_emulator) -> usize {
    // SAFETY: the caller guarantees `emu` is null or live.
    guard_value(0, || unsafe { emulator(emu) }.map_or(0, |e| e.emulator.n_outputs()))
}

/// The number of named outputs (`dl_tt`, `sigma8`, ...; 0 for NULL).
///
/// # Safety
/// `emu` must be null or a live emulator.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_n_named_outputs(emu: *const zelos_emulator) -> usize {
    // SAFETY: the caller guarantees `emu` is null or live.
    guard_value(0, || unsafe { emulator(emu) }.map_or(0, |e| e.emulator.outputs().len()))
}

/// Named output `i`: its name (owned by the emulator), offset and length in the flat output
/// vector. Any of `name`, `offset`, `len` may be NULL.
///
/// # Safety
/// `emu` must be null or a live emulator; each non-null out-pointer must be writable.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_output_info(
    emu: *const zelos_emulator,
    i: usize,
    name: *mut *const c_char,
    offset: *mut usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees `emu` is null or live.
        let e = unsafe { emulator(emu) }?;
        let n = e.emulator.outputs().len();
        let info = e.emulator.outputs().get(i).ok_or_else(|| invalid(format!("output index {i} out of range (there are {n})")))?;
        if !name.is_null() {
            // SAFETY: non-null, and the caller guarantees non-null out-pointers are writable.
            unsafe { *name = e.output_names[i].as_ptr() };
        }
        if !offset.is_null() {
            // SAFETY: non-null, and the caller guarantees non-null out-pointers are writable.
            unsafe { *offset = info.offset };
        }
        if !len.is_null() {
            // SAFETY: non-null, and the caller guarantees non-null out-pointers are writable.
            unsafe { *len = info.len() };
        }
        Ok(())
    })
}

/// Evaluates one point: `x[n_params]` (parameter order) into `out[n_out]`; `n_params` and
/// `n_out` must equal the emulator's (else `ZELOS_ERR_PARAMETERS`). The training box is not
/// checked here: see `zelos_emulator_check_point` and `zelos_emulator_trust`.
///
/// # Safety
/// `emu` must be null or live; `x` must be null or hold `n_params` doubles; `out` must be null
/// or hold `n_out` writable doubles not overlapping `x`.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_eval(
    emu: *const zelos_emulator,
    x: *const c_double,
    n_params: usize,
    out: *mut c_double,
    n_out: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees `emu` is null or live.
        let e = unsafe { emulator(emu) }?;
        let width = e.emulator.n_outputs();
        if n_out != width {
            return Err(Failure::from(Error::Parameters(format!("{}: the output buffer holds {n_out} values; {width} are needed", e.emulator.name()))));
        }
        // SAFETY: the caller guarantees `x` holds `n_params` doubles.
        let x = unsafe { slice(x, n_params, "x") }?;
        // SAFETY: the caller guarantees `out` holds `n_out` writable doubles, apart from `x`.
        let out = unsafe { slice_mut(out, n_out, "out") }?;
        out.copy_from_slice(&e.emulator.eval(x)?);
        Ok(())
    })
}

/// Evaluates `n_points` points: `x[n_points * n_parameters]` row-major into
/// `out[n_points * n_outputs]` row-major.
///
/// # Safety
/// `emu` must be null or live; `x` must be null or hold `n_points * n_parameters` doubles;
/// `out` must be null or hold `n_points * n_outputs` writable doubles not overlapping `x`.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_eval_batch(
    emu: *const zelos_emulator,
    x: *const c_double,
    n_points: usize,
    out: *mut c_double,
) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees `emu` is null or live.
        let e = unsafe { emulator(emu) }?;
        let p = e.emulator.parameters().len();
        let width = e.emulator.n_outputs();
        let (n_in, n_res) = match (n_points.checked_mul(p), n_points.checked_mul(width)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(invalid(format!("n_points = {n_points} overflows the buffer sizes"))),
        };
        if n_points == 0 {
            return Ok(());
        }
        // SAFETY: the caller guarantees `x` holds `n_points * n_parameters` doubles.
        let x = unsafe { slice(x, n_in, "x") }?;
        // SAFETY: the caller guarantees `out` holds `n_points * n_outputs` writable doubles.
        let out = unsafe { slice_mut(out, n_res, "out") }?;
        // Straight into the caller's buffer, in chunks of bounded scratch memory.
        e.emulator.eval_batch_into(x, n_points, out)?;
        Ok(())
    })
}

/// The outputs (`out[n_outputs]`, may be NULL) and the Jacobian `jac[n_outputs * n_parameters]`
/// (row-major: `jac[i * n_parameters + j]` = d out[i] / d x[j]) at `x[n_parameters]`.
///
/// # Safety
/// `emu` must be null or live; `x` must be null or hold `n_parameters` doubles; `out` must be
/// null or hold `n_outputs` writable doubles; `jac` must be null or hold
/// `n_outputs * n_parameters` writable doubles; the buffers must not overlap.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_jacobian(
    emu: *const zelos_emulator,
    x: *const c_double,
    out: *mut c_double,
    jac: *mut c_double,
) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees `emu` is null or live.
        let e = unsafe { emulator(emu) }?;
        let p = e.emulator.parameters().len();
        let width = e.emulator.n_outputs();
        // SAFETY: the caller guarantees `x` holds `n_parameters` doubles.
        let x = unsafe { slice(x, p, "x") }?;
        // SAFETY: the caller guarantees `jac` holds `n_outputs * n_parameters` writable doubles.
        let jac = unsafe { slice_mut(jac, width * p, "jac") }?;
        let (values, jacobian) = e.emulator.jacobian(x)?;
        jac.copy_from_slice(&jacobian);
        if !out.is_null() {
            // SAFETY: non-null, and the caller guarantees `n_outputs` writable doubles.
            unsafe { slice_mut(out, width, "out") }?.copy_from_slice(&values);
        }
        Ok(())
    })
}

/// Checks `x[n_parameters]`: `ZELOS_OK` inside the training box, `ZELOS_ERR_OUT_OF_RANGE`
/// outside it (the message names the parameters), `ZELOS_ERR_PARAMETERS` for a non-finite value.
///
/// # Safety
/// `emu` must be null or live; `x` must be null or hold `n_parameters` doubles.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_check_point(emu: *const zelos_emulator, x: *const c_double) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees `emu` is null or live.
        let e = unsafe { emulator(emu) }?;
        // SAFETY: the caller guarantees `x` holds `n_parameters` doubles.
        let x = unsafe { slice(x, e.emulator.parameters().len(), "x") }?;
        e.emulator.check_point(x)?;
        Ok(())
    })
}

/// The trust-region query at `x[n_parameters]`, with every method the spec asks for (box,
/// Mahalanobis, convex hull): `*inside` = 1 if the emulator may answer there, else 0;
/// `*distance` = the deciding method's distance in its own unit (box: 1 on the boundary;
/// NaN if nothing could be checked). Either out-pointer may be NULL. When the point is
/// outside, the last error message is set to the reason (the call still returns `ZELOS_OK`).
///
/// # Safety
/// `emu` must be null or live; `x` must be null or hold `n_parameters` doubles; non-null
/// out-pointers must be writable.
#[no_mangle]
pub unsafe extern "C" fn zelos_emulator_trust(
    emu: *const zelos_emulator,
    x: *const c_double,
    inside: *mut c_int,
    distance: *mut c_double,
) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees `emu` is null or live.
        let e = unsafe { emulator(emu) }?;
        // SAFETY: the caller guarantees `x` holds `n_parameters` doubles.
        let x = unsafe { slice(x, e.emulator.parameters().len(), "x") }?;
        let decision = e.trust.decide(x)?;
        if !decision.inside {
            set_last_error(&format!("{}: {}", e.emulator.name(), decision.reason()));
        }
        if !inside.is_null() {
            // SAFETY: non-null, and the caller guarantees non-null out-pointers are writable.
            unsafe { *inside = c_int::from(decision.inside) };
        }
        if !distance.is_null() {
            // SAFETY: non-null, and the caller guarantees non-null out-pointers are writable.
            unsafe { *distance = decision.distance() };
        }
        Ok(())
    })
}
