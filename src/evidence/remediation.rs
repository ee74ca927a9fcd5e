//! What to do about a failing or warning check: the remediation catalogue.
//!
//! For every check the demo and the bundle format docs name, a plain
//! statement of the problem, why the HIPAA Security Rule asks for the
//! safeguard, how to fix it and who usually does. Checks it does not know
//! get [`GENERIC`], which says so and points at the evidence. The
//! appliance names the HIPAA control per check; the catalogue never
//! overrides it.

use serde_json::Value;

use super::bundle::CheckStatus;
use super::controls::check_label;

/// Who usually fixes a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedBy {
    /// The practice's own staff.
    Practice,
    /// The practice's IT partner (MSP).
    Partner,
    /// The IT partner changes a setting and the staff do their part.
    Together,
}

impl FixedBy {
    /// The API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            FixedBy::Practice => "practice",
            FixedBy::Partner => "partner",
            FixedBy::Together => "together",
        }
    }

    /// Who, in a sentence's words; `partner` is the practice's IT partner's
    /// name when known.
    pub fn who(self, partner: Option<&str>) -> String {
        let partner = partner.unwrap_or("your IT partner");
        match self {
            FixedBy::Practice => "Your practice's staff".to_owned(),
            FixedBy::Partner => partner.to_owned(),
            FixedBy::Together => format!("{partner}, with your staff"),
        }
    }

    /// "Usually fixed by …." as pages, emails and the report say it.
    pub fn usually(self, partner: Option<&str>) -> String {
        let who = self.who(partner);
        let who = match who.strip_prefix("Your ") {
            Some(rest) => format!("your {rest}"),
            None => who,
        };
        format!("Usually fixed by {who}.")
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remediation {
    /// The check type it covers; empty for [`GENERIC`].
    pub check: &'static str,
    /// The problem when the check fails, e.g. "MFA is not enabled".
    pub failing: &'static str,
    /// The problem when the check could not be confirmed.
    pub warning: &'static str,
    /// Why the Security Rule asks for it, in plain words.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
    pub fixed_by: FixedBy,
}

impl Remediation {
    /// Whether this is the entry for checks the catalogue does not know.
    pub fn is_generic(&self) -> bool {
        self.check.is_empty()
    }

    /// The problem as a sentence, e.g. "MFA is not enabled on XRAY-01 at
    /// Westgate"; the generic entry names the check.
    pub fn problem(&self, check: &str, status: CheckStatus, host: &str, site: &str) -> String {
        let what = match (self.is_generic(), status) {
            (true, CheckStatus::Fail) => format!("{} failed", check_label(check)),
            (true, _) => format!("{} could not be confirmed", check_label(check)),
            (false, CheckStatus::Fail) => self.failing.to_owned(),
            (false, _) => self.warning.to_owned(),
        };
        format!("{what} on {host} at {site}")
    }
}

/// The entry for a check the catalogue does not know.
pub const GENERIC: Remediation = Remediation {
    check: "",
    failing: "",
    warning: "",
    why: "The appliance reports this check as evidence for the HIPAA safeguard named here. \
          OsirisCare has no specific guidance for this check yet.",
    fix: "Open the evidence to see what the appliance found, and ask your IT partner to look \
          into it: give them the check's id and the host.",
    fixed_by: FixedBy::Partner,
};

const FIREWALL: Remediation = Remediation {
    check: "firewall_status",
    failing: "The firewall is off",
    warning: "The firewall could not be confirmed",
    why: "A computer without its firewall can be reached by anything else on the clinic \
          network. HIPAA asks that ePHI on a network be guarded against unauthorized access.",
    fix: "Turn Windows Defender Firewall on for all network profiles (domain, private and \
          public), preferably by group policy so that it stays on.",
    fixed_by: FixedBy::Partner,
};

const CATALOGUE: &[Remediation] = &[
    Remediation {
        check: "bitlocker_status",
        failing: "Disk encryption (BitLocker) is off",
        warning: "Disk encryption (BitLocker) could not be confirmed",
        why: "A lost or stolen computer with an unencrypted disk gives away every patient record \
              on it. HIPAA asks practices to encrypt stored ePHI where reasonable; a lost device \
              that was encrypted is usually not a reportable breach.",
        fix: "Turn BitLocker on for the system drive (Control Panel > BitLocker Drive Encryption, \
              or manage-bde -on C: at an administrator prompt), keep the recovery key where your IT partner can find it, \
              and let the next check confirm it.",
        fixed_by: FixedBy::Partner,
    },
    Remediation {
        check: "windows_defender",
        failing: "Antivirus (Microsoft Defender) is off or out of date",
        warning: "Antivirus (Microsoft Defender) could not be confirmed",
        why: "Malware is the most common way patient data is stolen or locked for ransom. HIPAA \
              asks for procedures that guard against, detect and report malicious software.",
        fix: "Turn real-time protection back on and update the definitions (Windows Security > \
              Virus & threat protection). If another antivirus product is installed, make sure \
              it is running and the appliance can see it.",
        fixed_by: FixedBy::Partner,
    },
    FIREWALL,
    // The same check under the name some agents give it.
    Remediation { check: "firewall_enabled", ..FIREWALL },
    Remediation {
        check: "password_policy",
        failing: "The password policy is weaker than required",
        warning: "The password policy could not be confirmed",
        why: "Short or reused passwords are easy to guess. HIPAA asks for procedures for \
              creating, changing and safeguarding passwords.",
        fix: "Apply the practice's password policy (at least 12 characters, lock-out after \
              repeated failures) by group policy or the local security policy, then have the \
              affected users choose a new password.",
        fixed_by: FixedBy::Partner,
    },
    Remediation {
        check: "audit_policy",
        failing: "Security event logging is off",
        warning: "Security event logging could not be confirmed",
        why: "Without logs nobody can tell who opened patient records or whether someone broke \
              in. HIPAA asks for mechanisms that record activity on systems holding ePHI.",
        fix: "Turn on auditing of sign-ins, account changes and policy changes (Local Security \
              Policy > Advanced Audit Policy), and keep the logs long enough to review them.",
        fixed_by: FixedBy::Partner,
    },
    Remediation {
        check: "backup_status",
        failing: "The last backup did not complete",
        warning: "The last backup could not be confirmed",
        why: "When a server fails or ransomware strikes, a recent backup is what lets the \
              practice keep seeing patients. HIPAA asks for retrievable exact copies of ePHI.",
        fix: "Read the backup job's log on the server, fix the cause (a full disk, expired \
              credentials, an offline target), run a backup now and check that a test restore \
              works.",
        fixed_by: FixedBy::Partner,
    },
    Remediation {
        check: "patch_status",
        failing: "Security updates are missing",
        warning: "Security updates could not be confirmed",
        why: "Most break-ins use flaws that already have a fix. HIPAA asks the practice to \
              reduce known risks to a reasonable level, and installing updates is the first \
              way to do that.",
        fix: "Install the pending Windows updates and restart the computer. If updates keep \
              failing, ask your IT partner to check the update service.",
        fixed_by: FixedBy::Together,
    },
    Remediation {
        check: "ntp_sync",
        failing: "The clock is not synchronised",
        warning: "The clock's synchronisation could not be confirmed",
        why: "Logs are only evidence when their times are right. HIPAA asks for audit \
              controls, and a drifting clock makes events impossible to line up.",
        fix: "Point Windows Time at the domain controller or a public time source, run \
              w32tm /resync, and make sure UDP port 123 is open to it.",
        fixed_by: FixedBy::Partner,
    },
    Remediation {
        check: "screen_lock",
        failing: "The screen does not lock when left unattended",
        warning: "The screen lock could not be confirmed",
        why: "A computer left signed in at the front desk or in an exam room shows patient \
              data to anyone passing by. HIPAA asks for automatic log-off after inactivity.",
        fix: "Set the screen to lock after at most 15 minutes without use (group policy: \
              Interactive logon: Machine inactivity limit), and remind staff to press \
              Windows+L when they step away.",
        fixed_by: FixedBy::Together,
    },
    Remediation {
        check: "usb_storage_blocked",
        failing: "USB storage devices are allowed",
        warning: "The USB storage block could not be confirmed",
        why: "A USB stick can carry patient data out of the practice or bring malware in. \
              HIPAA asks for policies on moving devices and media in and out of the facility.",
        fix: "Block removable storage by group policy (All Removable Storage classes: Deny all \
              access), and give staff an approved, encrypted way to move files when they \
              need one.",
        fixed_by: FixedBy::Partner,
    },
    Remediation {
        check: "mfa_enabled",
        failing: "MFA is not enabled",
        warning: "MFA could not be confirmed",
        why: "Without a second factor, a stolen password is enough to sign in as that user. \
              HIPAA asks the practice to verify that whoever seeks access to ePHI is who they \
              claim to be.",
        fix: "Turn on multi-factor sign-in for the accounts that use this computer, and have \
              each user enrol an authenticator app or a security key.",
        fixed_by: FixedBy::Together,
    },
    Remediation {
        check: "disk_free",
        failing: "The disk is nearly full",
        warning: "Free disk space could not be confirmed",
        why: "A full disk stops backups, logs and updates, which the other safeguards depend \
              on. HIPAA asks for plans that keep ePHI available.",
        fix: "Free space (empty the recycle bin, remove old installers and temporary files) or \
              add storage; ask your IT partner if the disk keeps filling up.",
        fixed_by: FixedBy::Practice,
    },
];

/// The catalogue's entry for `check`, or [`GENERIC`].
pub fn remediation(check: &str) -> &'static Remediation {
    CATALOGUE.iter().find(|r| r.check == check).unwrap_or(&GENERIC)
}

/// Every check the catalogue knows.
pub fn known_checks() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|r| r.check)
}

/// Keys of a check's details that say what the appliance found, in the
/// order they are preferred.
const FINDING_KEYS: &[&str] = &["finding", "message", "reason", "error", "detail", "description"];

/// Keys that describe the appliance rather than the finding.
const META_KEYS: &[&str] = &["agent", "agent_version", "version"];

/// Most details listed when no key says what was found.
const MAX_FACTS: usize = 6;

/// What the evidence found, in words, from a check's `details`: the
/// appliance's own sentence when it gave one, else its facts as
/// "name: value" pairs; None when it reported nothing beyond the result.
pub fn found(details: &Value) -> Option<String> {
    let map = details.as_object()?;
    for key in FINDING_KEYS {
        if let Some(Value::String(s)) = map.get(*key) {
            let s = s.trim();
            if !s.is_empty() {
                return Some(s.to_owned());
            }
        }
    }
    let facts: Vec<String> = map
        .iter()
        .filter(|(k, _)| !META_KEYS.contains(&k.as_str()))
        .take(MAX_FACTS)
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Null => "none".to_owned(),
                other => other.to_string(),
            };
            format!("{}: {value}", check_label(k).to_lowercase())
        })
        .collect();
    (!facts.is_empty()).then(|| facts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_demo_check_has_its_own_entry() {
        for (check, _, _) in crate::demo::CATALOGUE {
            assert!(!remediation(check).is_generic(), "{check} has no remediation");
        }
        for check in ["firewall_enabled", "disk_free", "bitlocker_status", "backup_status"] {
            assert!(!remediation(check).is_generic(), "{check} has no remediation");
        }
    }

    #[test]
    fn unknown_checks_get_the_generic_entry_which_names_them() {
        let r = remediation("vpn_tunnel_up");
        assert!(r.is_generic());
        assert_eq!(
            r.problem("vpn_tunnel_up", CheckStatus::Fail, "SRV-01", "Westgate"),
            "VPN tunnel up failed on SRV-01 at Westgate"
        );
        assert_eq!(
            r.problem("vpn_tunnel_up", CheckStatus::Warn, "SRV-01", "Westgate"),
            "VPN tunnel up could not be confirmed on SRV-01 at Westgate"
        );
    }

    #[test]
    fn problems_read_as_sentences() {
        let r = remediation("mfa_enabled");
        assert_eq!(
            r.problem("mfa_enabled", CheckStatus::Fail, "XRAY-01", "Westgate"),
            "MFA is not enabled on XRAY-01 at Westgate"
        );
        assert_eq!(
            r.fixed_by.who(Some("Cascade Medical IT")),
            "Cascade Medical IT, with your staff"
        );
        assert_eq!(remediation("disk_free").fixed_by.who(None), "Your practice's staff");
        assert_eq!(
            remediation("disk_free").fixed_by.usually(None),
            "Usually fixed by your practice's staff."
        );
        assert_eq!(FixedBy::Partner.usually(None), "Usually fixed by your IT partner.");
    }

    #[test]
    fn checks_are_unique_and_every_entry_is_written() {
        let mut seen = std::collections::HashSet::new();
        for r in CATALOGUE {
            assert!(seen.insert(r.check), "{} twice", r.check);
            for text in [r.failing, r.warning, r.why, r.fix] {
                assert!(text.len() > 10 && !text.contains("  "), "{}: {text:?}", r.check);
            }
        }
    }

    #[test]
    fn findings_prefer_the_appliances_sentence_then_its_facts() {
        assert_eq!(
            found(&json!({"agent": "a 1", "finding": " 3 accounts without MFA ", "n": 3})),
            Some("3 accounts without MFA".into())
        );
        assert_eq!(
            found(&json!({"agent": "a 1", "free_gb": 2, "drive": "C:"})),
            Some("drive: C:; free gb: 2".into())
        );
        assert_eq!(found(&json!({"agent": "osiris-agent 3.4.1"})), None);
        assert_eq!(found(&json!({})), None);
        assert_eq!(found(&json!([1, 2])), None);
    }
}
