//! Names: the HIPAA Security Rule controls appliances cite, with the
//! rule's own names, and checks' names ([`check_label`]), so every page,
//! report and export names them alike.

/// The HIPAA Security Rule's name for a citation appliances commonly
/// report, so a practice manager need not look it up.
pub fn control_name(control: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("164.308(a)(1)(ii)(A)", "Risk analysis"),
        ("164.308(a)(1)(ii)(B)", "Risk management"),
        ("164.308(a)(1)(ii)(D)", "Information system activity review"),
        ("164.308(a)(3)(ii)(C)", "Termination procedures"),
        ("164.308(a)(4)(ii)(B)", "Access authorization"),
        ("164.308(a)(5)(ii)(A)", "Security reminders"),
        ("164.308(a)(5)(ii)(B)", "Protection from malicious software"),
        ("164.308(a)(5)(ii)(C)", "Log-in monitoring"),
        ("164.308(a)(5)(ii)(D)", "Password management"),
        ("164.308(a)(6)(ii)", "Response and reporting"),
        ("164.308(a)(7)(ii)(A)", "Data backup plan"),
        ("164.308(a)(7)(ii)(B)", "Disaster recovery plan"),
        ("164.310(a)(1)", "Facility access controls"),
        ("164.310(b)", "Workstation use"),
        ("164.310(c)", "Workstation security"),
        ("164.310(d)(1)", "Device and media controls"),
        ("164.310(d)(2)(iv)", "Data backup and storage"),
        ("164.312(a)(1)", "Access control"),
        ("164.312(a)(2)(i)", "Unique user identification"),
        ("164.312(a)(2)(ii)", "Emergency access procedure"),
        ("164.312(a)(2)(iii)", "Automatic logoff"),
        ("164.312(a)(2)(iv)", "Encryption and decryption"),
        ("164.312(b)", "Audit controls"),
        ("164.312(c)(1)", "Integrity"),
        ("164.312(c)(2)", "Mechanism to authenticate ePHI"),
        ("164.312(d)", "Person or entity authentication"),
        ("164.312(e)(1)", "Transmission security"),
        ("164.312(e)(2)(i)", "Integrity controls"),
        ("164.312(e)(2)(ii)", "Encryption"),
    ];
    NAMES.iter().find(|(id, _)| *id == control).map(|(_, name)| *name)
}

/// Human name of a check type: `bitlocker_status` → "BitLocker status",
/// `ntp_sync` → "NTP sync", with acronyms and product names written the way
/// the rest of the portal writes them.
pub fn check_label(check_type: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("av", "AV"),
        ("bitlocker", "BitLocker"),
        ("dns", "DNS"),
        ("edr", "EDR"),
        ("hipaa", "HIPAA"),
        ("mfa", "MFA"),
        ("ntp", "NTP"),
        ("os", "OS"),
        ("rdp", "RDP"),
        ("smb", "SMB"),
        ("smbv1", "SMBv1"),
        ("ssl", "SSL"),
        ("tls", "TLS"),
        ("uac", "UAC"),
        ("usb", "USB"),
        ("vpn", "VPN"),
        ("wifi", "Wi-Fi"),
    ];
    let words: Vec<String> = check_type
        .split(['_', '.', '-', ' '])
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, word)| {
            let lower = word.to_lowercase();
            match WORDS.iter().find(|(w, _)| *w == lower) {
                Some((_, written)) => (*written).to_owned(),
                None if i == 0 => {
                    let mut chars = word.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default()
                }
                None => word.to_owned(),
            }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_types_read_as_words() {
        assert_eq!(check_label("bitlocker_status"), "BitLocker status");
        assert_eq!(check_label("ntp_sync"), "NTP sync");
        assert_eq!(check_label("mfa_enabled"), "MFA enabled");
        assert_eq!(check_label("backup.last_run"), "Backup last run");
        assert_eq!(check_label("smbv1-disabled"), "SMBv1 disabled");
    }

    #[test]
    fn common_controls_have_names() {
        assert_eq!(control_name("164.312(a)(2)(iv)"), Some("Encryption and decryption"));
        assert_eq!(control_name("Unmapped"), None);
    }
}
