//! The checks behind audgate's fuzz targets (see fuzz/README.md). Being split
//! into one module per target: for now all of it is `decision.rs`.

mod decision;

pub use decision::*;
