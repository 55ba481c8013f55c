//! Verification codes (验证码) on the registration form and unguessable tokens.
//!
//! A code is 10 characters from a 32-symbol alphabet without look-alikes (no 0/O, 1/I): 50 bits,
//! read aloud and typed by a clerk. Each submit draws a fresh one (R15, R18); the old one dies.

use crate::error::Refusal;

const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
pub const CODE_LEN: usize = 10;

/// A fresh verification code from the OS CSPRNG.
pub fn new_code() -> Result<String, Refusal> {
    let mut buf = [0u8; CODE_LEN];
    getrandom::fill(&mut buf).map_err(|_| Refusal::internal())?;
    // 256 is a multiple of 32, so `b % 32` is uniform.
    Ok(buf.iter().map(|b| ALPHABET[(*b % 32) as usize] as char).collect())
}

/// Parse a code as typed by a person: case-insensitive, spaces ignored.
pub fn parse_code(raw: &str) -> Result<String, Refusal> {
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if s.len() != CODE_LEN || !s.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(Refusal::bad("INVALID_VERIFICATION_CODE", "验证码格式不正确").field("code"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r18_every_code_is_fresh_and_well_formed() {
        let codes: std::collections::HashSet<String> = (0..1000).map(|_| new_code().unwrap()).collect();
        assert_eq!(codes.len(), 1000);
        for c in &codes {
            assert_eq!(parse_code(c).unwrap(), *c);
        }
    }

    #[test]
    fn codes_typed_by_a_clerk_are_normalised() {
        let c = new_code().unwrap().to_ascii_lowercase();
        let spaced = format!("{} {}", &c[..5], &c[5..]);
        assert_eq!(parse_code(&spaced).unwrap(), c.to_ascii_uppercase());
        assert!(parse_code("0000000000").is_err(), "0 is not in the alphabet");
    }
}
