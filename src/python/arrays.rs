//! numpy arrays in: the one helper that turns a read-only array into the row-major values the
//! core takes.
//!
//! A C-contiguous array (any 1-D array with unit stride) is read in place, without a copy; any
//! other layout (Fortran order, a strided view, a transposed array) is copied in row order. The
//! element type is fixed by the caller's `PyReadonlyArray<T, _>` argument: numpy arrays of another
//! dtype are refused when the argument is extracted, never converted here, so for the
//! evaluation bindings "copy-free" means a C-contiguous float64 array.

use std::borrow::Cow;
use std::collections::TryReserveError;

use numpy::ndarray::Dimension;
use numpy::{Element, PyReadonlyArray, PyUntypedArrayMethods};

/// The array's values in row-major order: borrowed when it is C-contiguous, else a copy.
pub(crate) fn values<'a, T: Element + Copy, D: Dimension>(a: &'a PyReadonlyArray<'_, T, D>) -> Cow<'a, [T]> {
    match in_place(a) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

/// [`values`], with the copy (when one is needed) allocated fallibly: for batches, whose size
/// the caller does not control.
pub(crate) fn try_values<'a, T: Element + Copy, D: Dimension>(
    a: &'a PyReadonlyArray<'_, T, D>,
) -> Result<Cow<'a, [T]>, TryReserveError> {
    if let Some(s) = in_place(a) {
        return Ok(Cow::Borrowed(s));
    }
    let mut copy = Vec::new();
    copy.try_reserve_exact(a.len())?;
    copy.extend(a.as_array().iter().copied());
    Ok(Cow::Owned(copy))
}

/// The memory of a C-contiguous array. (`as_slice` alone also accepts a Fortran-ordered array,
/// whose memory runs column by column: read as rows, it would be the transpose.)
fn in_place<'a, T: Element, D: Dimension>(a: &'a PyReadonlyArray<'_, T, D>) -> Option<&'a [T]> {
    if a.is_c_contiguous() {
        a.as_slice().ok()
    } else {
        None
    }
}
