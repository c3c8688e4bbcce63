//! Checks of the arrays handed to the trainer: shapes that agree, and finite values.

use crate::Error;

/// The sizes of a training problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shapes {
    pub d_in: usize,
    pub d_out: usize,
}

/// Checks `x [n, d_in]`, `y [n, d_out]`, `x_val [n_val, d_in]`, `y_val [n_val, d_out]` (the
/// widths inferred from the training set) and that every value is finite.
pub fn check(x: &[f32], y: &[f32], n: usize, x_val: &[f32], y_val: &[f32], n_val: usize) -> Result<Shapes, Error> {
    let bad = |message: String| Err(Error::Parameters(format!("training data: {message}")));
    if n == 0 {
        return bad("no training points (n = 0)".into());
    }
    if n_val == 0 {
        return bad("no validation points (n_val = 0); they pick the epoch whose weights are kept".into());
    }
    for (name, len) in [("x", x.len()), ("y", y.len())] {
        if len == 0 || len % n != 0 {
            return bad(format!("{name} has {len} values, not a multiple of n = {n} rows with at least one column"));
        }
    }
    let shapes = Shapes { d_in: x.len() / n, d_out: y.len() / n };
    for (name, len, width) in [("x_val", x_val.len(), shapes.d_in), ("y_val", y_val.len(), shapes.d_out)] {
        if len != n_val * width {
            return bad(format!("{name} has {len} values, expected n_val x {width} = {}", n_val * width));
        }
    }
    for (name, values, width) in
        [("x", x, shapes.d_in), ("y", y, shapes.d_out), ("x_val", x_val, shapes.d_in), ("y_val", y_val, shapes.d_out)]
    {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return bad(format!("{name}[{}, {}] is {} (every value must be finite)", i / width, i % width, values[i]));
        }
    }
    Ok(shapes)
}
