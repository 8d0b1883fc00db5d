//! Compare-or-write of one generated file, shared by every job.

use std::path::Path;

/// Lines of context shown around the first difference in `--check` mode.
const CONTEXT: usize = 3;
/// Differing lines shown before the excerpt is cut.
const SHOWN: usize = 12;

/// Writes `generated` to `target`, or with `check` only reports whether the
/// committed copy matches it.
pub fn apply(target: &Path, generated: &str, check: bool, job: &str) -> Result<String, String> {
    let committed = match std::fs::read_to_string(target) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("read {}: {e}", target.display())),
    };
    if committed.as_deref() == Some(generated) {
        return Ok(format!("{}: up to date", target.display()));
    }
    if check {
        let excerpt = match &committed {
            Some(old) => excerpt(old, generated),
            None => "(file is missing)\n".to_string(),
        };
        return Err(format!(
            "{} is stale: it differs from what its sources generate.\n{excerpt}\
             Regenerate with: cargo run --manifest-path tools/codegen/Cargo.toml -- {job}",
            target.display()
        ));
    }
    std::fs::write(target, generated).map_err(|e| format!("write {}: {e}", target.display()))?;
    Ok(format!("{}: rewritten", target.display()))
}

/// A unified-diff-like view of the first region where the texts diverge:
/// enough to see what changed without pulling in a diff library.
fn excerpt(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    // Trim the common tail too, so the excerpt centres on the change.
    let tail = a[first..]
        .iter()
        .rev()
        .zip(b[first..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let start = first.saturating_sub(CONTEXT);
    let mut out = format!(
        "--- committed ({} lines)\n+++ generated ({} lines)\n@@ line {} @@\n",
        a.len(),
        b.len(),
        first + 1
    );
    for line in &a[start..first] {
        out += &format!(" {line}\n");
    }
    let removed = &a[first..a.len() - tail];
    let added = &b[first..b.len() - tail];
    for line in removed.iter().take(SHOWN) {
        out += &format!("-{line}\n");
    }
    for line in added.iter().take(SHOWN) {
        out += &format!("+{line}\n");
    }
    if removed.len() > SHOWN || added.len() > SHOWN {
        out += &format!(
            "... ({} removed / {} added lines in total)\n",
            removed.len(),
            added.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpt_points_at_the_changed_line() {
        let e = excerpt("a\nb\nc\nd\n", "a\nb\nX\nd\n");
        assert!(e.contains("@@ line 3 @@"), "{e}");
        assert!(e.contains("-c\n+X\n"), "{e}");
        assert!(!e.contains("-d"), "{e}");
    }

    #[test]
    fn excerpt_handles_appended_lines() {
        let e = excerpt("a\n", "a\nb\n");
        assert!(e.contains("+b\n"), "{e}");
    }
}
