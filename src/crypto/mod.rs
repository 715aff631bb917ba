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
pub mod sops;
pub mod tree;
pub mod wrap;
pub mod yaml;
pub mod yaml_docs;

/// The comment lines of an encrypted YAML text: `#` lines, and the values
/// sops encrypts comments into. ksec does not keep them yet, and says so.
pub fn comment_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| l.trim_start().starts_with('#') || l.ends_with(",type:comment]"))
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn comment_lines_count_plain_and_encrypted_comments() {
        let text = "# top\na: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  # indented\n- ENC[AES256_GCM,data:x,iv:y,tag:z,type:comment]\nb: not # a comment line\n";
        assert_eq!(super::comment_lines(text), 3);
    }
}
