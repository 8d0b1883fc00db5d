//! Small lexical helpers for text that is not parsed as a config: comment
//! bodies and command-line values the redactor looks into.

/// Cuts a `#` comment that starts at the beginning or after whitespace and
/// outside quotes; the value Fluent Bit sees ends there.
pub fn strip_comment(v: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in v.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &v[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    v
}

/// Removes one pair of matching surrounding quotes.
pub fn unquote(v: &str) -> &str {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_quotes() {
        assert_eq!(strip_comment("a b # c"), "a b ");
        assert_eq!(strip_comment("a#b"), "a#b");
        assert_eq!(strip_comment("'x # y' # z"), "'x # y' ");
        assert_eq!(unquote(" 'v' "), "v");
        assert_eq!(unquote("\"v"), "\"v");
    }
}
