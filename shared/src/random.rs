//! Random identifiers and tokens from the OS CSPRNG.

use base64::Engine;

/// `n` random bytes, base64url without padding.
pub fn token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // getrandom only fails when the OS has no entropy source at all; a zeroed buffer would be
    // a security bug, so we abort rather than continue.
    if getrandom::fill(&mut buf).is_err() {
        std::process::abort();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A 128-bit id in lowercase hex.
pub fn id() -> String {
    let mut buf = [0u8; 16];
    if getrandom::fill(&mut buf).is_err() {
        std::process::abort();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
