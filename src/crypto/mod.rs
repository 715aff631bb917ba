//! The SOPS file format with age: values (AES-256-GCM), the MAC, data-key
//! wrapping, and sops's stores (YAML, multi-document YAML, JSON, binary,
//! dotenv, INI). Pure in-memory code: reading and writing files is the
//! commands' job.

pub mod cipher;
pub mod dotenv;
pub(crate) mod fast_yaml;
pub mod ini;
pub mod json;
pub mod merge;
pub mod plugin;
pub mod sops;
pub mod tree;
pub mod wrap;
pub mod yaml;
pub mod yaml_docs;
