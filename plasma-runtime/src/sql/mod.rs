//! SQL text shared by every SQL backend: query rendering, DDL, change-log
//! triggers and the additive migration planner.

pub mod ddl;
pub mod migrate;
pub mod render;
