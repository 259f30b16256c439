//! Golden frames (pfsync.md §7.3), hand-laid records checked field by field against the
//! reference's offset tables, and property tests.

mod golden;
mod layout;
mod proptests;
