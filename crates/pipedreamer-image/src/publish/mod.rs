//! Publishers: where a built [`crate::Image`] goes. One file each.

pub mod archive;
pub mod daemon;
pub mod oci_layout;
pub mod registry;
