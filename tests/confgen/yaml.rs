//! YAML configs: block and flow style, quoting, escapes, tags, anchors and
//! aliases, block scalars, `env:` and environment variables, `includes:`,
//! processors and several documents.

use super::{base_name, env_var_for, join, spelling, Case, Kind, Rng};

struct Doc<'a> {
    rng: &'a mut Rng,
    lines: Vec<String>,
    /// Anchors defined so far, for aliases.
    anchors: Vec<String>,
    env: Vec<String>,
    processors: bool,
}

fn cased(rng: &mut Rng, word: &str) -> String {
    match rng.below(8) {
        0 => word.to_ascii_uppercase(),
        1 => {
            let mut w = word.to_string();
            w[..1].make_ascii_uppercase();
            w
        }
        _ => word.to_string(),
    }
}

impl Doc<'_> {
    /// A `name` value on one line, or `None` for a block scalar, which
    /// the caller writes over the next lines.
    fn name_value(&mut self, kind: Kind) -> String {
        let name = base_name(self.rng, kind);
        let spelled = spelling(self.rng, name);
        match self.rng.below(40) {
            0 => format!("'{spelled}'"),
            1 => format!("\"{spelled}\""),
            2 => format!("\"\\x{:02x}{}\"", name.as_bytes()[0], &name[1..]),
            3 => format!("!!str {spelled}"),
            4 => {
                let a = format!("a{}", self.anchors.len());
                self.anchors.push(a.clone());
                format!("&{a} {spelled}")
            }
            5 if !self.anchors.is_empty() => {
                let a = self.anchors[self.rng.below(self.anchors.len())].clone();
                format!("*{a}")
            }
            6 => format!("${{{}}}", env_var_for(kind)),
            7 => {
                let var = format!("V{}", self.env.len());
                self.env.push(format!("  {var}: {spelled}"));
                format!("${{{var}}}")
            }
            8 => format!("{spelled}   # comment"),
            9 => format!("'{}'", spelled.replace('m', "''m")),
            _ => spelled,
        }
    }

    /// One plugin as a block map (`- name: x`), over several lines.
    fn block_item(&mut self, ind: &str, kind: Kind, depth: usize) {
        let key = cased(self.rng, "name");
        let key = match self.rng.below(10) {
            0 => format!("\"{key}\""),
            1 => format!("'{key}'"),
            _ => key,
        };
        if self.rng.one_in(30) {
            let style = self.rng.pick(&["|", ">", "|-", ">-"]);
            self.lines.push(format!("{ind}- {key}: {style}"));
            let base = base_name(self.rng, kind);
            let name = spelling(self.rng, base);
            self.lines.push(format!("{ind}    {name}"));
        } else {
            let v = self.name_value(kind);
            self.lines.push(format!("{ind}- {key}: {v}"));
        }
        if kind != Kind::Input {
            self.lines.push(format!("{ind}  match: '*'"));
        }
        if kind == Kind::Filter && self.lines.last().is_some_and(|l| l.contains("grep")) {
            self.lines.push(format!("{ind}  regex: log x"));
        }
        if depth == 0 && kind != Kind::Filter && self.rng.one_in(8) {
            self.processors(&format!("{ind}  "));
        }
    }

    fn processors(&mut self, ind: &str) {
        self.processors = true;
        self.lines.push(format!("{ind}processors:"));
        self.lines.push(format!(
            "{ind}  {}:",
            self.rng.pick(&["logs", "logs", "metrics", "Logs"])
        ));
        for _ in 0..1 + self.rng.below(2) {
            self.block_item(&format!("{ind}    "), Kind::Filter, 1);
        }
    }

    /// The list of one pipeline category, block or flow style.
    fn category(&mut self, ind: &str, kind: Kind, word: &str) {
        let count = 1 + self.rng.below(2);
        let word = cased(self.rng, word);
        if self.rng.one_in(4) {
            let mut items = Vec::new();
            for _ in 0..count {
                let v = self.name_value(kind);
                let m = if kind == Kind::Input {
                    ""
                } else {
                    ", match: '*'"
                };
                items.push(format!("{{name: {v}{m}}}"));
            }
            let v: Vec<String> = items.iter().map(|i| i.replace(" # comment", "")).collect();
            self.lines.push(format!("{ind}{word}: [{}]", v.join(", ")));
            return;
        }
        self.lines.push(format!("{ind}{word}:"));
        let item_ind = format!("{ind}{}", self.rng.pick(&["  ", "    ", ""]));
        for _ in 0..count {
            self.block_item(&item_ind, kind, 0);
        }
    }

    /// Only a main file holds `service:` and `parsers:`: Fluent Bit refuses
    /// them twice over (not yet in the reader).
    fn document(&mut self, includes: &[String], main: bool) {
        if !includes.is_empty() {
            if self.rng.one_in(2) {
                self.lines
                    .push(format!("includes: [{}]", includes.join(", ")));
            } else {
                self.lines.push("includes:".into());
                for i in includes {
                    self.lines.push(format!("  - {i}"));
                }
            }
        }
        if main && self.rng.one_in(4) {
            self.lines.push("service:".into());
            self.lines.push("  flush: 1".into());
        }
        if main && self.rng.one_in(8) {
            self.lines.push("parsers:".into());
            self.lines.push("  - name: exec".into());
            self.lines.push("    format: json".into());
        }
        self.lines.push(cased(self.rng, "pipeline") + ":");
        let mut kinds = vec![(Kind::Input, "inputs")];
        if self.rng.one_in(2) {
            kinds.push((Kind::Filter, "filters"));
        }
        if !self.rng.one_in(6) {
            kinds.push((Kind::Output, "outputs"));
        }
        for (kind, word) in kinds {
            if self.rng.one_in(20) {
                self.lines.push("  # a comment".into());
            }
            self.category("  ", kind, word);
        }
        if self.rng.one_in(30) {
            self.lines.push("\tx: 1".into());
        }
    }
}

fn file(rng: &mut Rng, includes: &[String], main: bool) -> (Vec<u8>, bool) {
    let mut d = Doc {
        rng,
        lines: Vec::new(),
        anchors: Vec::new(),
        env: Vec::new(),
        processors: false,
    };
    if d.rng.one_in(6) {
        d.lines.push("---".into());
    }
    d.document(includes, main);
    if d.rng.one_in(12) {
        d.lines
            .push(d.rng.pick(&["---", "...", "--- !!map"]).into());
        d.document(&[], false);
    }
    if !d.env.is_empty() {
        let mut env = vec![cased(d.rng, "env") + ":"];
        env.append(&mut d.env);
        let at = if d.rng.one_in(4) { d.lines.len() } else { 0 };
        // env: after the pipeline in the same document, or first.
        let at = if d.lines.iter().any(|l| l.starts_with("---") || l == "...") {
            0
        } else {
            at
        };
        d.lines.splice(at..at, env);
    }
    let processors = d.processors;
    (join(d.rng, &d.lines), processors)
}

pub fn case(rng: &mut Rng) -> Case {
    let mut files = Vec::new();
    let mut includes = Vec::new();
    let mut processors = false;
    for i in 0..rng.below(3) {
        let (path, pattern) = match rng.below(3) {
            0 => (format!("inc.d/part{i}.yaml"), "inc.d/*.yaml".to_string()),
            1 => (format!("part{i}.conf"), format!("part{i}.conf")),
            _ => (format!("part{i}.yaml"), format!("part{i}.yaml")),
        };
        if !includes.contains(&pattern) {
            includes.push(pattern);
        }
        let (body, p) = file(rng, &[], false);
        processors |= p;
        files.push((path, body));
    }
    let (main, p) = file(rng, &includes, true);
    files.insert(0, ("main.yaml".into(), main));
    Case {
        yaml: true,
        files,
        processors: processors || p,
    }
}
