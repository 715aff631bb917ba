//! The black-box tests, one module per area, in one test binary: each test
//! binary links the whole crate, so one binary instead of thirty-one is
//! built and linked once. `tests/README.md` says what each module covers
//! and which need the local API server or the Secret Service.
//! `canary_scan` stays a binary of its own: it runs after this one.

#[path = "../common/mod.rs"]
mod common;

mod access_exposed;
mod access_rbac;
mod age_plugin;
mod apply_safety;
mod bounded_memory;
mod check;
mod cli;
mod cluster;
mod comments;
mod completions;
mod concurrency;
mod edit;
mod exec;
mod exit_codes;
mod expiry;
mod faults;
mod formats;
mod fuzz_corpus;
mod generate;
mod git;
mod gitops;
mod gitops_bootstrap;
mod gitops_bootstrap_interrupted;
mod gitops_rerender;
mod help;
mod identity_order;
mod identity_sources;
mod init_from_sops;
mod integrity;
mod interop;
mod keys;
mod kills;
mod kubectl_habits;
mod messages;
mod multicluster;
mod namespace;
mod onboard_cluster;
mod plaintext_output;
mod readme;
mod recipients;
mod render;
mod render_kubectl;
mod rotation;
mod set_input;
mod setup;
mod sops_compat;
mod sops_upstream;
mod source_safety;
mod versions;
