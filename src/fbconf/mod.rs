//! The one reader of Fluent Bit's config formats.
//!
//! Everything that needs to know what Fluent Bit will make of a config goes
//! through here: the property reader (our own `opamp` section), the
//! effective-config report, the redactor, the remote-config policy and the
//! dry-run rewrite. Each rule follows Fluent Bit's own parser
//! (`src/config_format/flb_cf_fluentbit.c` and `flb_cf_yaml.c`), so a config
//! cannot mean one thing to Fluent Bit and another to us.
//!
//! - [`format`]: classic or YAML, chosen by the main file's extension.
//! - [`classic`]: the classic format line by line, with Fluent Bit's
//!   indentation, comment, `@INCLUDE` and `@SET` rules.
//! - [`yaml`]: YAML as libyaml's event stream (the parser Fluent Bit uses),
//!   with each event's place in the text.
//! - [`view`]: sections, plugins and properties of either format.
//! - [`includes`] and [`files`]: include resolution and reading the files,
//!   with limits and cycle detection.
//! - [`locate`]: where one plugin's section sits in the text.
//! - [`vars`]: `${VAR}` expansion from `@SET`/`env:` and the environment.
//!
//! This module depends on nothing else in the crate.

pub mod classic;
pub mod files;
pub mod format;
pub mod includes;
pub mod locate;
pub mod text;
pub mod vars;
pub mod view;
pub mod yaml;

pub use format::{is_yaml_path, Format};

/// Names (files in the managed folder, tags) the plugin writes for itself:
/// no server config may use them, and the redactor hides every header and
/// key path in a file whose name starts with it.
pub const OWN_PREFIX: &str = "_opamp.";
