//! Reading the plugin's own configuration.

pub mod includes;
pub mod properties;
pub mod section;
pub mod text;
