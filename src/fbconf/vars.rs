//! `${NAME}` expansion, as Fluent Bit does it when a property is set:
//! variables from `@SET` (classic) or `env:` (YAML) first, then the
//! process environment. Unknown names expand to nothing.

pub fn expand_vars(value: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                if let Some((_, v)) = vars.iter().rev().find(|(k, _)| k == name) {
                    out.push_str(v);
                } else if let Ok(v) = std::env::var(name) {
                    out.push_str(&v);
                }
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_vars_win_then_env_then_nothing() {
        let vars = vec![
            ("A".to_string(), "1".to_string()),
            ("A".to_string(), "2".to_string()),
        ];
        assert_eq!(expand_vars("x${A}y", &vars), "x2y");
        assert_eq!(expand_vars("${OPAMP_SURELY_UNSET_VAR}z", &vars), "z");
        assert_eq!(expand_vars("${open", &vars), "${open");
    }
}
