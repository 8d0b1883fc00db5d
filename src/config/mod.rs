//! Reading the plugin's own configuration.

pub mod http_address;
pub mod properties;
pub mod section;
