//! `ksec namespace add|list|remove`: onboard a team namespace from the
//! templates, list the project's namespaces, take one out of the project.

use crate::error::{Error, Result};
use crate::onboard::Templates;
use crate::project::Project;

/// The project's templates folder, next to ksec.yaml.
pub const TEMPLATES_DIR: &str = "templates";

/// The built-in templates, with those in the project's `templates/` in
/// place of the ones of the same name.
pub fn load_templates(project: &Project) -> Result<Templates> {
    let dir = project.root.join(TEMPLATES_DIR);
    let mut overrides = Vec::new();
    if dir.is_dir() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &dir, &e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, &e))?;
            overrides.push((name.clone(), format!("{TEMPLATES_DIR}/{name}"), text));
        }
    }
    overrides.sort();
    Templates::with_overrides(overrides).map_err(|problems| {
        let mut err = Error::invalid(format!(
            "the onboarding templates have {} problem{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        for p in problems {
            err = err.detail(p);
        }
        err.hint("fix the files in templates/ (or remove them to use the built-in ones); the README lists the placeholders")
    })
}
