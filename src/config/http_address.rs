//! Where Fluent Bit's own HTTP server listens, decided the way Fluent Bit
//! decides it, so the status needs no setting Fluent Bit already has.
//!
//! Fluent Bit applies the command line's `-H`/`-L`/`-P` to its service
//! first and the config file's service section after it
//! (`flb_reload_reconstruct_cf` then `service_configure` in
//! `fluent-bit.c`), so for each key the bootstrap's value wins, then the
//! command line's, then Fluent Bit's default (`flb_config.h`: off,
//! 0.0.0.0, 2020). A server listening on every address is reached on
//! loopback.

use std::path::Path;

use crate::fbconf::{files, vars::expand_vars, view};

/// Fluent Bit's defaults (`FLB_CONFIG_HTTP_LISTEN`, `FLB_CONFIG_HTTP_PORT`).
const DEFAULT_LISTEN: &str = "0.0.0.0";
const DEFAULT_PORT: &str = "2020";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServer {
    /// `HTTP_Server` is on (or the `http_server` property names one).
    pub enabled: bool,
    /// `http://host:port` to reach it on.
    pub url: String,
    /// Where the address came from, for the log.
    pub source: &'static str,
}

#[derive(Default)]
struct Keys {
    server: Option<String>,
    listen: Option<String>,
    port: Option<String>,
}

/// `over` is the opamp section's `http_server` property, which wins.
pub fn resolve(over: Option<&str>, bootstrap: Option<&Path>, args: &[String]) -> HttpServer {
    if let Some(url) = over {
        return HttpServer {
            enabled: true,
            url: url.to_string(),
            source: "the http_server property",
        };
    }
    let file = bootstrap.map(from_bootstrap).unwrap_or_default();
    let cli = from_args(args);
    let pick = |f: &Option<String>, c: &Option<String>| f.clone().or_else(|| c.clone());
    let enabled = pick(&file.server, &cli.server)
        .as_deref()
        .and_then(crate::config::properties::parse_bool)
        .unwrap_or(false);
    let source = if file.listen.is_some() || file.port.is_some() {
        "the bootstrap's service section"
    } else if cli.listen.is_some() || cli.port.is_some() {
        "Fluent Bit's command line"
    } else {
        "Fluent Bit's defaults"
    };
    let listen = pick(&file.listen, &cli.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let port = pick(&file.port, &cli.port).unwrap_or_else(|| DEFAULT_PORT.into());
    HttpServer {
        enabled,
        url: format!("http://{}:{}", connect_host(&listen), port.trim()),
        source,
    }
}

/// The last service section's values across the bootstrap and its
/// includes, with `@SET`/`env:` variables and the environment expanded.
fn from_bootstrap(path: &Path) -> Keys {
    let mut keys = Keys::default();
    let Ok(list) = files::read_files(path) else {
        return keys;
    };
    let mut vars = Vec::new();
    let mut raw = Keys::default();
    for f in &list {
        let v = view::view(f.format, &f.text);
        vars.extend(v.vars);
        for s in v.sections.iter().filter(|s| s.kind == "SERVICE") {
            for (slot, key) in [
                (&mut raw.server, "HTTP_Server"),
                (&mut raw.listen, "HTTP_Listen"),
                (&mut raw.port, "HTTP_Port"),
            ] {
                if let Some(val) = s.get(key) {
                    *slot = Some(val.to_string());
                }
            }
        }
    }
    for (out, val) in [
        (&mut keys.server, raw.server),
        (&mut keys.listen, raw.listen),
        (&mut keys.port, raw.port),
    ] {
        *out = val
            .map(|v| expand_vars(&v, &vars))
            .filter(|v| !v.trim().is_empty());
    }
    keys
}

/// `-H`/`--http`/`--http_server`, `-L`/`--http_listen`, `-P`/`--port`/
/// `--http_port`, in getopt's forms (`-P 2021`, `-P2021`, `--http_port=2021`).
fn from_args(args: &[String]) -> Keys {
    let mut k = Keys::default();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.as_str();
        match a {
            "-H" | "--http" | "--http_server" => k.server = Some("on".into()),
            "-L" | "--http_listen" => k.listen = it.next().cloned(),
            "-P" | "--port" | "--http_port" => k.port = it.next().cloned(),
            _ => {
                if let Some(v) = a.strip_prefix("--http_listen=") {
                    k.listen = Some(v.into());
                } else if let Some(v) = a
                    .strip_prefix("--http_port=")
                    .or_else(|| a.strip_prefix("--port="))
                {
                    k.port = Some(v.into());
                } else if let Some(v) = a.strip_prefix("-L").filter(|v| !v.is_empty()) {
                    k.listen = Some(v.into());
                } else if let Some(v) = a.strip_prefix("-P").filter(|v| !v.is_empty()) {
                    k.port = Some(v.into());
                }
            }
        }
    }
    k
}

/// Every-address listeners are reached on loopback; IPv6 literals need
/// brackets in a URL.
fn connect_host(listen: &str) -> String {
    let l = listen.trim().trim_matches(['[', ']']);
    match l {
        "" | "0.0.0.0" => "127.0.0.1".into(),
        "::" => "[::1]".into(),
        _ if l.contains(':') => format!("[{l}]"),
        _ => l.to_string(),
    }
}

#[cfg(test)]
mod tests;
