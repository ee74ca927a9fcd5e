//! The log's leaves, byte for byte: UTF-8 text, LF line ends, `name value`
//! lines, lower-case hex, decimal without leading zeros, a final LF. A leaf
//! that differs from this grammar in any byte is refused ([`Leaf::parse`]
//! writes what it read back and compares).

use uuid::Uuid;

/// One leaf of a practice's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaf {
    Evidence(EvidenceLeaf),
    SiteKey(SiteKeyLeaf),
    Report(ReportLeaf),
}

/// A bundle as it was accepted: which site, where in its chain, the hashes,
/// the key its signature was checked with, the signature, when received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLeaf {
    pub site: Uuid,
    pub position: u64,
    pub bundle: [u8; 32],
    pub chain: [u8; 32],
    pub key: [u8; 32],
    pub signature: [u8; 64],
    /// Unix seconds.
    pub received: u64,
}

/// A site's keys from now on: the appliance's signing key and its
/// cosigner (witness) key, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteKeyLeaf {
    pub site: Uuid,
    pub key: [u8; 32],
    pub witness: Option<[u8; 32]>,
    /// Unix seconds.
    pub registered: u64,
}

/// A finished monthly report: its month and the SHA-256 of its PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLeaf {
    /// `YYYY-MM`.
    pub month: String,
    pub sha256: [u8; 32],
}

pub const EVIDENCE_V1: &str = "osiriscare.evidence/v1";
pub const SITE_KEY_V1: &str = "osiriscare.site-key/v1";
pub const REPORT_V1: &str = "osiriscare.report/v1";

/// Why bytes are not a leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("the leaf is not UTF-8 text")]
    NotText,
    #[error("unknown leaf type {0:?}")]
    UnknownType(String),
    #[error("the leaf's line {line} should be `{expected} …`")]
    BadLine { line: usize, expected: &'static str },
    #[error("the leaf is not in its exact form (line order, case, zeros or line ends differ)")]
    NotCanonical,
}

impl Leaf {
    /// The leaf's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let text = match self {
            Leaf::Evidence(e) => format!(
                "{EVIDENCE_V1}\nsite {}\nposition {}\nbundle {}\nchain {}\nkey {}\nsignature {}\nreceived {}\n",
                e.site.hyphenated(),
                e.position,
                hex::encode(e.bundle),
                hex::encode(e.chain),
                hex::encode(e.key),
                hex::encode(e.signature),
                e.received
            ),
            Leaf::SiteKey(k) => format!(
                "{SITE_KEY_V1}\nsite {}\nkey {}\nwitness {}\nregistered {}\n",
                k.site.hyphenated(),
                hex::encode(k.key),
                k.witness.map(hex::encode).unwrap_or_else(|| "none".to_owned()),
                k.registered
            ),
            Leaf::Report(r) => {
                format!("{REPORT_V1}\nmonth {}\nsha256 {}\n", r.month, hex::encode(r.sha256))
            }
        };
        text.into_bytes()
    }

    /// Reads a leaf, refusing any byte that differs from its exact form.
    pub fn parse(bytes: &[u8]) -> Result<Leaf, LeafError> {
        let text = std::str::from_utf8(bytes).map_err(|_| LeafError::NotText)?;
        let mut lines = text.split('\n');
        let kind = lines.next().unwrap_or_default();
        let mut fields = Fields { lines, n: 1 };
        let leaf = match kind {
            EVIDENCE_V1 => Leaf::Evidence(EvidenceLeaf {
                site: fields.next("site", |v| Uuid::parse_str(v).ok())?,
                position: fields.next("position", |v| v.parse().ok())?,
                bundle: fields.next("bundle", hex32)?,
                chain: fields.next("chain", hex32)?,
                key: fields.next("key", hex32)?,
                signature: fields.next("signature", |v| hex::decode(v).ok()?.try_into().ok())?,
                received: fields.next("received", |v| v.parse().ok())?,
            }),
            SITE_KEY_V1 => Leaf::SiteKey(SiteKeyLeaf {
                site: fields.next("site", |v| Uuid::parse_str(v).ok())?,
                key: fields.next("key", hex32)?,
                witness: fields.next("witness", |v| match v {
                    "none" => Some(None),
                    v => hex32(v).map(Some),
                })?,
                registered: fields.next("registered", |v| v.parse().ok())?,
            }),
            REPORT_V1 => Leaf::Report(ReportLeaf {
                month: fields.next("month", |v| {
                    let ok = v.len() == 7
                        && v.as_bytes()[4] == b'-'
                        && v[..4].bytes().all(|b| b.is_ascii_digit())
                        && matches!(v[5..].parse::<u8>(), Ok(1..=12));
                    ok.then(|| v.to_owned())
                })?,
                sha256: fields.next("sha256", hex32)?,
            }),
            other => return Err(LeafError::UnknownType(other.chars().take(40).collect())),
        };
        if leaf.encode() != bytes {
            return Err(LeafError::NotCanonical);
        }
        Ok(leaf)
    }
}

fn hex32(v: &str) -> Option<[u8; 32]> {
    hex::decode(v).ok()?.try_into().ok()
}

struct Fields<'a> {
    lines: std::str::Split<'a, char>,
    n: usize,
}

impl Fields<'_> {
    fn next<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, LeafError> {
        self.n += 1;
        let bad = LeafError::BadLine { line: self.n, expected: name };
        let line = self.lines.next().ok_or(bad.clone())?;
        let value = line.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).ok_or(bad.clone())?;
        parse(value).ok_or(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence() -> Leaf {
        Leaf::Evidence(EvidenceLeaf {
            site: Uuid::parse_str("0b5e6c1a-3f1e-4a57-9d0c-5c2b7a1e9f00").unwrap(),
            position: 41,
            bundle: [0xab; 32],
            chain: [0x01; 32],
            key: [0x7f; 32],
            signature: [0x02; 64],
            received: 1_764_000_000,
        })
    }

    #[test]
    fn leaves_have_their_exact_bytes() {
        let text = String::from_utf8(evidence().encode()).unwrap();
        assert_eq!(
            text,
            format!(
                "osiriscare.evidence/v1\nsite 0b5e6c1a-3f1e-4a57-9d0c-5c2b7a1e9f00\nposition 41\n\
                 bundle {}\nchain {}\nkey {}\nsignature {}\nreceived 1764000000\n",
                "ab".repeat(32),
                "01".repeat(32),
                "7f".repeat(32),
                "02".repeat(64)
            )
        );
        let key = Leaf::SiteKey(SiteKeyLeaf {
            site: Uuid::nil(),
            key: [0x11; 32],
            witness: None,
            registered: 0,
        });
        assert_eq!(
            String::from_utf8(key.encode()).unwrap(),
            format!(
                "osiriscare.site-key/v1\nsite 00000000-0000-0000-0000-000000000000\nkey {}\n\
                 witness none\nregistered 0\n",
                "11".repeat(32)
            )
        );
        let report = Leaf::Report(ReportLeaf { month: "2026-11".into(), sha256: [0; 32] });
        assert_eq!(
            String::from_utf8(report.encode()).unwrap(),
            format!("osiriscare.report/v1\nmonth 2026-11\nsha256 {}\n", "00".repeat(32))
        );
        for leaf in [evidence(), key, report] {
            assert_eq!(Leaf::parse(&leaf.encode()).unwrap(), leaf);
        }
    }

    #[test]
    fn a_leaf_that_differs_in_any_byte_from_its_form_is_refused() {
        let good = String::from_utf8(evidence().encode()).unwrap();
        for bad in [
            good.replace("position 41", "position 041"),
            good.replace("position 41", "position +41"),
            good.replace(&"ab".repeat(32), &"AB".repeat(32)),
            good.replace("0b5e6c1a-3f1e", "0B5E6C1A-3F1E"),
            good.replace('\n', "\r\n"),
            good.trim_end().to_owned(),
            format!("{good}\n"),
            good.replace("received 1764000000\n", "received 1764000000\nextra 1\n"),
            good.replace("chain", "chain "),
            good.replace("osiriscare.evidence/v1", "osiriscare.evidence/v2"),
            good.replace(
                "site 0b5e6c1a-3f1e-4a57-9d0c-5c2b7a1e9f00",
                "site 0b5e6c1a3f1e4a579d0c5c2b7a1e9f00",
            ),
        ] {
            assert!(Leaf::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let mut swapped: Vec<&str> = good.split('\n').collect();
        swapped.swap(3, 4);
        assert!(Leaf::parse(swapped.join("\n").as_bytes()).is_err());
        assert_eq!(Leaf::parse(&[0xff, 0xfe]), Err(LeafError::NotText));
        let month =
            |m: &str| format!("osiriscare.report/v1\nmonth {m}\nsha256 {}\n", "00".repeat(32));
        for bad in ["2026-13", "2026-00", "2026-1", "26-11", "2026/11"] {
            assert!(Leaf::parse(month(bad).as_bytes()).is_err(), "{bad}");
        }
    }
}
