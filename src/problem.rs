//! A problem with one object, found by rendering or onboarding: where (a
//! line of ksec.yaml, a source file or a template), which object, and what is
//! wrong — never a value. A leaf, so that onboarding reports problems without
//! importing the renderer that collects them.

use std::fmt;

/// A problem found while rendering, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `ksec.yaml:12` or `namespaces/payments/api.env:3`
    pub location: String,
    /// `payments/ConfigMap/api-config`
    pub object: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.object, self.message)
    }
}
