//! One file per verb.
pub mod events;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod update;
