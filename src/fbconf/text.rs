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

/// Replaces byte ranges of `text`, in any order; a range that overlaps an
/// earlier one is skipped. The one way configs are edited as text (the
/// redactor, the dry-run copy).
pub fn apply_edits(text: &str, mut edits: Vec<(std::ops::Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (r, new) in edits {
        if r.start < at {
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(&new);
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
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
