//! The SOPS file format with age: values (AES-256-GCM), the MAC, data-key
//! wrapping, and the YAML and dotenv stores. Pure in-memory code: reading
//! and writing files is the commands' job.

pub mod cipher;
pub mod dotenv;
pub(crate) mod fast_yaml;
pub mod merge;
pub mod plugin;
pub mod sops;
pub mod tree;
pub mod wrap;
pub mod yaml;
