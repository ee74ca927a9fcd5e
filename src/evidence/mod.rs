//! Evidence domain core: what an appliance's bundle must look like
//! ([`bundle`]), how bundles are hashed, signed and chained so tampering is
//! detectable ([`chain`]), and how check results become a compliance score
//! ([`score`]).
//!
//! Everything here is pure: no database and no HTTP. Handlers and `src/db/`
//! call into it, so the rules in DESIGN.md ("Evidence (format v1)" and
//! "Compliance score") live in exactly one place.

pub mod bundle;
pub mod chain;
pub mod ingest;
pub mod score;
pub mod sweeper;
pub mod verify;
