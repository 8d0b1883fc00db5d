//! Which of Fluent Bit's two config formats a file is in.

use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Classic,
    Yaml,
}

/// Fluent Bit picks the main config's format by extension alone
/// (`flb_cf_create_from_file`: `.yaml` or `.yml`, any case). Included files
/// do not choose: they are read in the format of the file that includes them.
pub fn is_yaml_path(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml") | Some("yml")
    )
}

impl Format {
    pub fn of_path(p: &Path) -> Format {
        if is_yaml_path(p) {
            Format::Yaml
        } else {
            Format::Classic
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Classic => "classic",
            Format::Yaml => "YAML",
        }
    }

    /// The format a `content_type` announces.
    pub fn from_content_type(ct: &str) -> Result<Format, String> {
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "" | "text/plain" | "text/x-fluent-bit" => Ok(Format::Classic),
            "text/yaml" | "application/yaml" | "text/x-yaml" | "application/x-yaml" => Ok(Format::Yaml),
            _ => Err(format!(
                "content_type '{}' is not a Fluent Bit config; use text/yaml or application/yaml for YAML, \
                 text/plain, text/x-fluent-bit or nothing for classic",
                base.escape_default()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_decides_any_case() {
        assert_eq!(Format::of_path(Path::new("/a/b.YML")), Format::Yaml);
        assert_eq!(Format::of_path(Path::new("b.yaml")), Format::Yaml);
        assert_eq!(Format::of_path(Path::new("b.conf")), Format::Classic);
        assert_eq!(Format::of_path(Path::new("yaml")), Format::Classic);
    }
}
