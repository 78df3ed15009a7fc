//! # senate-python
//!
//! Thin PyO3 bindings that expose `senate-core` as the extension module `senate._core`. No
//! protocol logic lives here: only conversion between Python and core types, one file per
//! concept. The typed stubs are `python/senate/_core.pyi`.

use pyo3::prelude::*;

mod balance;
mod errors;
mod node;
mod ready;
mod sim;
mod status;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<node::RaftNode>()?;
    m.add_class::<ready::Ready>()?;
    m.add_class::<ready::Entry>()?;
    m.add_class::<status::Status>()?;
    m.add_class::<sim::SimReport>()?;
    m.add_class::<sim::ThroughputReport>()?;
    m.add_function(wrap_pyfunction!(sim::run_sim, m)?)?;
    m.add_function(wrap_pyfunction!(sim::run_throughput, m)?)?;
    balance::register(m)?;
    Ok(())
}
