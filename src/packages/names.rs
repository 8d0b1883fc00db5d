//! What an offered package may be called and contain: names that stay
//! inside `state_dir/packages`, and file types checked against the same
//! plugin policy as remote configs (a Lua script is code the `lua` plugin
//! runs, so it is refused while `lua` is denied).

use crate::config::properties::PluginPolicy;

/// Longest package name, version or file name.
const MAX_NAME: usize = 64;

/// A path part we create: letters, digits, `.`, `_`, `-` (and `+` for
/// versions), starting with a letter or digit, so it can be neither `..`,
/// a hidden file nor a separator. `what` names it in the error.
pub fn check_part(what: &str, s: &str, plus: bool) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c) || (plus && c == '+');
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if s.len() > MAX_NAME || !first_ok || !s.chars().all(ok_char) {
        return Err(format!(
            "the {what} '{}' could escape the package folder or is not a plain name \
             (letters, digits, '.', '_', '-'; at most {MAX_NAME})",
            clip(s)
        ));
    }
    Ok(())
}

/// The file's name: the last segment of the URL's path.
pub fn file_name(url: &str) -> Result<String, String> {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    let path = no_query.split_once("://").map_or("", |(_, r)| r);
    let seg = path.split_once('/').map_or("", |(_, p)| p);
    let last = seg.rsplit('/').next().unwrap_or_default();
    if last.is_empty() {
        return Err("the download_url has no file name at the end of its path".into());
    }
    check_part("file name", last, false)?;
    Ok(last.to_string())
}

/// The plugin that would run a file of this name, for the policy check;
/// `Err` for types no addon may be.
pub fn runs_with(file: &str) -> Result<Option<&'static str>, String> {
    let ext = file
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "lua" => Some("lua"),
        "wasm" => Some("wasm"),
        "so" | "dylib" | "dll" | "exe" | "sh" | "bin" => {
            return Err(format!(
                "'{}' is a program or shared library; addon packages carry data and scripts only \
                 (a new plugin build is the top-level agent package)",
                clip(file)
            ))
        }
        _ => None,
    })
}

/// Whether the operator's plugin policy lets `plugin` run.
pub fn allowed(policy: &PluginPolicy, plugin: &str) -> Result<(), String> {
    let listed = |l: &[String]| l.iter().any(|p| p.eq_ignore_ascii_case(plugin));
    match policy {
        PluginPolicy::Deny(l) if listed(l) => Err(format!(
            "refused by policy (deny_plugins): the package is a {plugin} file and '{plugin}' is denied"
        )),
        PluginPolicy::Allow(l) if !listed(l) => Err(format!(
            "refused by policy (allow_plugins): the package is a {plugin} file and '{plugin}' is not allowed"
        )),
        _ => Ok(()),
    }
}

/// Names come from the server: bounded and escaped in messages.
pub fn clip(s: &str) -> String {
    let short: String = s.chars().take(MAX_NAME + 8).collect();
    short.escape_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        for bad in ["..", "../x", "a/b", ".hidden", "", "a\0b", "a b", "c:\\x"] {
            assert!(check_part("name", bad, false).is_err(), "{bad:?}");
        }
        assert!(check_part("name", &"a".repeat(65), false).is_err());
        for good in ["parsers", "geo-ip_2.db", "A1"] {
            check_part("name", good, false).unwrap();
        }
        assert!(check_part("version", "1.0+build", true).is_ok());
        assert!(check_part("version", "1.0+build", false).is_err());
    }

    #[test]
    fn the_file_name_is_the_last_path_segment() {
        assert_eq!(
            file_name("https://h:1/a/b/parsers.conf?token=x").unwrap(),
            "parsers.conf"
        );
        assert!(file_name("https://h/").is_err());
        assert!(file_name("https://h/a/..").is_err());
        assert!(file_name("https://h/%2e%2e").is_err());
    }

    #[test]
    fn file_types_follow_the_plugin_policy() {
        let deny = PluginPolicy::Deny(vec!["lua".into()]);
        let lua = runs_with("filter.lua").unwrap().unwrap();
        let err = allowed(&deny, lua).unwrap_err();
        assert!(err.contains("deny_plugins") && err.contains("lua"), "{err}");
        assert!(allowed(&PluginPolicy::Deny(vec![]), lua).is_ok());
        assert!(allowed(&PluginPolicy::Allow(vec!["stdout".into()]), lua).is_err());
        assert_eq!(runs_with("parsers.conf").unwrap(), None);
        assert!(runs_with("evil.so").is_err());
    }
}
