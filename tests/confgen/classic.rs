//! Classic configs: sections, entries, comments, `@SET`, `@INCLUDE`
//! (plain and glob), indentation and separators of every kind.

use super::{base_name, env_var_for, join, spelling, Case, Kind, Rng};

fn indent(rng: &mut Rng) -> &'static str {
    rng.pick(&["    ", "    ", "  ", "\t", " \t", ""])
}

fn sep(rng: &mut Rng) -> &'static str {
    rng.pick(&[" ", " ", "    ", "\t", " \t "])
}

/// A `name` value: a spelling, a variable, quotes or a trailing comment.
fn name_value(rng: &mut Rng, kind: Kind, vars: &mut Vec<String>) -> String {
    let name = base_name(rng, kind);
    match rng.below(30) {
        0 => format!("${{{}}}", env_var_for(kind)),
        1 => {
            let var = format!("V{}", vars.len());
            vars.push(format!("@SET {var}={}", spelling(rng, name)));
            format!("${{{var}}}")
        }
        2 => format!("\"{name}\""),
        3 => format!("{name} # comment"),
        4 => format!("{name}   "),
        _ => spelling(rng, name),
    }
}

fn key(rng: &mut Rng, key: &str) -> String {
    match rng.below(4) {
        0 => key.to_ascii_uppercase(),
        1 => {
            let mut k = key.to_string();
            k[..1].make_ascii_uppercase();
            k
        }
        _ => key.to_string(),
    }
}

fn section(rng: &mut Rng, out: &mut Vec<String>, vars: &mut Vec<String>) {
    let (header, kind) = match rng.below(10) {
        0..=3 => ("INPUT", Some(Kind::Input)),
        4 | 5 => ("FILTER", Some(Kind::Filter)),
        6..=8 => ("OUTPUT", Some(Kind::Output)),
        _ => (
            rng.pick(&["SERVICE", "PARSER", "CUSTOM", "MULTILINE_PARSER"]),
            None,
        ),
    };
    // Fluent Bit matches any prefix of a section type, without trimming.
    let header = match rng.below(12) {
        0 => header.to_ascii_lowercase(),
        1 => format!("{header} "),
        2 => header[..1 + rng.below(header.len())].to_string(),
        3 => format!("{header}S"),
        4 => format!("{header}]x"),
        _ => header.to_string(),
    };
    out.push(format!("[{header}]"));
    let ind = indent(rng);
    let kind = kind.unwrap_or(Kind::Input);
    let mut entries = vec![format!(
        "{}{}{}",
        key(rng, "name"),
        sep(rng),
        name_value(rng, kind, vars)
    )];
    if kind != Kind::Input {
        entries.push(format!("Match{}*", sep(rng)));
    }
    if entries[0].to_ascii_lowercase().contains("grep") {
        entries.push("Regex log x".into());
    }
    if rng.one_in(3) {
        entries.insert(0, format!("tag{}t{}", sep(rng), rng.below(9)));
    }
    for e in entries {
        match rng.below(14) {
            0 => out.push(format!("{ind}# {e}")),
            1 => out.push(String::new()),
            2 => out.push(format!("{}{e}", indent(rng))),
            3 => out.push(format!("{ind}[GROUP]")),
            _ => {}
        }
        out.push(format!("{ind}{e}"));
    }
}

fn file(rng: &mut Rng, sections: usize, includes: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut lines, mut vars) = (Vec::new(), Vec::new());
    if rng.one_in(4) {
        lines.push("# generated".into());
    }
    for inc in includes {
        let sp = rng.pick(&[
            "@INCLUDE ",
            "@include ",
            "@INCLUDE ",
            "@INCLUDE\t",
            " @INCLUDE ",
        ]);
        lines.push(format!("{sp}{inc}"));
    }
    for _ in 0..sections {
        section(rng, &mut lines, &mut vars);
    }
    if rng.one_in(6) {
        lines.push(
            rng.pick(&[
                "@SET x=1",
                "@NOSUCH cmd",
                ";comment",
                "  # indented comment",
            ])
            .into(),
        );
    }
    (lines, vars)
}

pub fn case(rng: &mut Rng) -> Case {
    let mut files = Vec::new();
    let mut includes = Vec::new();
    for i in 0..rng.below(3) {
        let (path, pattern) = match rng.below(4) {
            0 => (format!("inc.d/part{i}.conf"), "inc.d/*.conf".to_string()),
            1 => (format!("part{i}.yaml"), format!("part{i}.yaml")),
            _ => (format!("part{i}.conf"), format!("part{i}.conf")),
        };
        if !includes.contains(&pattern) {
            includes.push(pattern);
        }
        let n = rng.below(3);
        let (lines, vars) = file(rng, n, &[]);
        files.push((path, join(rng, &[vars, lines].concat())));
    }
    let n = 1 + rng.below(4);
    let (lines, vars) = file(rng, n, &includes);
    // @SET lines come first or last: Fluent Bit sets them as it reads.
    let main = if rng.one_in(4) {
        [lines, vars].concat()
    } else {
        [vars, lines].concat()
    };
    files.insert(0, ("main.conf".into(), join(rng, &main)));
    Case {
        yaml: false,
        files,
        processors: false,
    }
}
