//! Evidence domain core: what an appliance's bundle must look like
//! ([`bundle`]), how bundles are hashed, signed and chained so tampering is
//! detectable ([`chain`]), how check results become a compliance score
//! ([`score`]), and the HIPAA controls they cite ([`controls`]).
//!
//! Everything here is pure: no database and no HTTP. Handlers and `src/db/`
//! call into it, so the rules in docs/EVIDENCE.md (bundle format v1, chain,
//! compliance score) live in exactly one place; [`remediation`] says what to
//! do about a failing check. [`ingest`], [`sweeper`],
//! [`verify`], [`log`] (sequencing into the practice's evidence log),
//! [`integrator`] (tiles and checkpoints) and [`proofs`] (reading the log)
//! are the evidence area's flows over that core.

pub mod batch;
pub mod bundle;
pub mod chain;
pub mod controls;
pub mod derived;
pub mod ingest;
pub mod integrator;
pub mod integrity;
pub mod limits;
pub mod log;
pub mod proofs;
pub mod remediation;
pub mod score;
pub mod sweeper;
pub mod verify;
pub mod witness;
