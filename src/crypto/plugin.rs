//! age plugins: `age1<name>1…` recipients and `AGE-PLUGIN-<NAME>-1…`
//! identities, served by an `age-plugin-<name>` program found on PATH
//! (age-plugin-yubikey, age-plugin-se, age-plugin-tpm, …) through the age
//! plugin protocol.
//!
//! The plugin talks to the user through [`TerminalCallbacks`]: its messages
//! ("touch your key") go to stderr as they come; its questions (a PIN, a
//! confirmation) are asked on the terminal, and without one they are
//! declined with a message saying so, so the plugin fails instead of
//! waiting. Answers are never printed.

use age::secrecy::SecretString;
use std::io::IsTerminal;
use std::sync::Mutex;

/// How a plugin reaches the user: stderr for messages, the terminal for
/// questions.
#[derive(Clone)]
pub struct TerminalCallbacks {
    /// The plugin's program (`age-plugin-yubikey`), named in every line.
    binary: String,
}

impl TerminalCallbacks {
    fn new(plugin_name: &str) -> TerminalCallbacks {
        TerminalCallbacks {
            binary: binary_name(plugin_name),
        }
    }

    fn terminal(&self, question: &str) -> bool {
        let yes = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !yes {
            eprintln!(
                "{}: asks \"{question}\", and there is no terminal to answer on (run ksec on a terminal)",
                self.binary
            );
        }
        yes
    }
}

impl age::Callbacks for TerminalCallbacks {
    fn display_message(&self, message: &str) {
        eprintln!("{}: {message}", self.binary);
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        if !self.terminal(message) {
            return None;
        }
        let mut items = vec![yes_string];
        items.extend(no_string);
        dialoguer::Select::new()
            .with_prompt(format!("{}: {message}", self.binary))
            .items(&items)
            .default(0)
            .interact()
            .ok()
            .map(|choice| choice == 0)
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        if !self.terminal(description) {
            return None;
        }
        dialoguer::Input::<String>::new()
            .with_prompt(format!("{}: {description}", self.binary))
            .interact_text()
            .ok()
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        if !self.terminal(description) {
            return None;
        }
        dialoguer::Password::new()
            .with_prompt(format!("{}: {description}", self.binary))
            .allow_empty_password(true)
            .interact()
            .ok()
            .map(SecretString::from)
    }
}

/// The program that serves plugin `name`.
pub fn binary_name(name: &str) -> String {
    format!("age-plugin-{name}")
}

/// A key shortened for messages: its start and end.
fn short(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 24 {
        return text.to_string();
    }
    let start: String = chars[..16].iter().collect();
    let end: String = chars[chars.len() - 6..].iter().collect();
    format!("{start}…{end}")
}

/// The error for a plugin that is not on PATH: which program, for which
/// key, and what to do.
fn missing(name: &str, key: &str) -> String {
    let binary = binary_name(name);
    format!(
        "{key} needs the age plugin program `{binary}`, which is not on PATH: install {binary} (the plugin that made this key) and make sure `{binary}` runs from this shell"
    )
}

/// Whether `text` is a plugin recipient (`age1<name>1…`, not X25519).
pub fn parse_recipient(text: &str) -> Option<age::plugin::Recipient> {
    text.parse().ok()
}

/// The age recipient that wraps a data key through the plugin.
pub fn recipient(
    r: &age::plugin::Recipient,
) -> Result<age::plugin::RecipientPluginV1<TerminalCallbacks>, String> {
    let name = r.plugin();
    age::plugin::RecipientPluginV1::new(
        name,
        std::slice::from_ref(r),
        &[],
        TerminalCallbacks::new(name),
    )
    .map_err(|_| missing(name, &format!("recipient {}", short(&r.to_string()))))
}

/// A plugin identity: asks its plugin one stanza at a time, so that
/// threads decrypting files in parallel never prompt at once.
pub struct PluginIdentity {
    plugin: Mutex<age::plugin::IdentityPluginV1<TerminalCallbacks>>,
    /// The program that serves it (`age-plugin-yubikey`).
    pub program: String,
}

/// Parse an `AGE-PLUGIN-<NAME>-1…` line and find its plugin. `Ok(None)`:
/// not a plugin identity. The error names the plugin and the identity's
/// prefix only (the rest is key material).
pub fn parse_identity(line: &str) -> Result<Option<PluginIdentity>, String> {
    if !line.starts_with("AGE-PLUGIN-") {
        return Ok(None);
    }
    let Ok(identity) = line.parse::<age::plugin::Identity>() else {
        return Err("is not a valid age plugin identity".into());
    };
    let name = identity.plugin().to_string();
    let prefix = format!("AGE-PLUGIN-{}-1…", name.to_uppercase());
    age::plugin::IdentityPluginV1::new(
        &name,
        std::slice::from_ref(&identity),
        TerminalCallbacks::new(&name),
    )
    .map(|plugin| {
        Some(PluginIdentity {
            plugin: Mutex::new(plugin),
            program: binary_name(&name),
        })
    })
    .map_err(|_| missing(&name, &format!("identity {prefix}")))
}

impl age::Identity for PluginIdentity {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        let plugin = self.plugin.lock().unwrap_or_else(|e| e.into_inner());
        plugin.unwrap_stanza(stanza)
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core::format::Stanza],
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        let plugin = self.plugin.lock().unwrap_or_else(|e| e.into_inner());
        plugin.unwrap_stanzas(stanzas)
    }
}
