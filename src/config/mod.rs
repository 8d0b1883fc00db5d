//! Reading the plugin's own configuration.

pub mod properties;
pub mod section;
