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

/// What a hidden value is replaced with, everywhere a config is reported.
pub const REDACTED: &str = "<redacted>";

/// Values at least this long are masked wherever they appear; shorter ones
/// only as a whole word, so a short value does not shred the text around it.
const MASK_ANYWHERE: usize = 6;

/// Replaces each of `values` in `text` with `marker`, in the order given
/// (give the longest first). Masks the values of secrets that reached config
/// text by expansion, whatever key they sit under.
pub fn mask_values(text: &str, values: &[String], marker: &str) -> String {
    let mut out = text.to_string();
    for v in values.iter().filter(|v| !v.is_empty()) {
        let anywhere = v.chars().count() >= MASK_ANYWHERE;
        let mut edits = Vec::new();
        for (i, _) in out.match_indices(v.as_str()) {
            let before = out[..i].chars().next_back();
            let after = out[i + v.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if anywhere || !(word(before) || word(after)) {
                edits.push((i..i + v.len(), marker.to_string()));
            }
        }
        if !edits.is_empty() {
            out = apply_edits(&out, edits);
        }
    }
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

    #[test]
    fn masks_long_values_anywhere_and_short_ones_as_words() {
        let v = vec!["s3cr3t-token".to_string(), "ab".to_string()];
        let t = "h Bearer s3cr3t-token\nx=xs3cr3t-tokenx ab tab ab";
        assert_eq!(
            mask_values(t, &v, "<r>"),
            "h Bearer <r>\nx=x<r>x <r> tab <r>"
        );
        assert_eq!(mask_values("abc", &[String::new()], "<r>"), "abc");
    }
}
