//! Python bindings (`zelos._zelos`): type conversions only, one file per core module.

mod archive;
mod arrays;
mod emulator;
mod errors;
mod hub;
mod pointlog;
mod region;
mod router;
mod spec;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _zelos(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    hub::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ARCHIVE_FORMAT_VERSION", crate::archive::FORMAT_VERSION)?;
    m.add("FIXED_VALUE_RTOL", crate::router::FIXED_VALUE_RTOL)?;
    m.add_class::<emulator::PyEmulator>()?;
    m.add_function(wrap_pyfunction!(emulator::load_emulator, m)?)?;
    m.add_function(wrap_pyfunction!(archive::write_emulator_archive, m)?)?;
    m.add_function(wrap_pyfunction!(archive::read_archive_members, m)?)?;
    m.add_function(wrap_pyfunction!(archive::extract_archive, m)?)?;
    m.add_function(wrap_pyfunction!(spec::load_spec, m)?)?;
    m.add_function(wrap_pyfunction!(spec::read_covmat, m)?)?;
    m.add_function(wrap_pyfunction!(spec::parse_spec, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_mlp, m)?)?;
    m.add_class::<region::PyTrustRegion>()?;
    m.add_class::<region::PyDecision>()?;
    m.add_class::<router::PyRouter>()?;
    m.add_class::<pointlog::PyPointLog>()?;
    m.add_function(wrap_pyfunction!(pointlog::read_point_log, m)?)?;
    Ok(())
}
