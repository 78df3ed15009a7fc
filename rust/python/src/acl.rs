//! ACL users (`AclUsers`): the fixed set of users a key-value server's sessions share.

use crate::errors::config_error;
use pyo3::prelude::*;
use senate_core::kv;
use std::sync::Arc;

/// The users of a server (see `_core.pyi`).
#[pyclass(module = "senate._core", frozen)]
pub struct AclUsers {
    pub inner: Arc<kv::Users>,
}

#[pymethods]
impl AclUsers {
    #[new]
    #[pyo3(signature = (users = Vec::new(), requirepass = None))]
    fn new(users: Vec<String>, requirepass: Option<&str>) -> PyResult<AclUsers> {
        let inner = kv::Users::new(&users, requirepass).map_err(|err| config_error(&err.field(), err.problem()))?;
        Ok(AclUsers { inner: Arc::new(inner) })
    }

    /// Every user as `ACL LIST` shows it, by name.
    fn describe(&self) -> Vec<String> {
        let mut users: Vec<_> = self.inner.iter().collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users.into_iter().map(kv::acl_rules::describe).collect()
    }

    #[getter]
    fn auth_required(&self) -> bool {
        self.inner.auth_required()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("AclUsers(users={}, auth_required={})", self.inner.len(), self.inner.auth_required())
    }
}
