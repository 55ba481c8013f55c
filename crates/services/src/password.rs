//! Password hashing for candidates and staff: Argon2id at the OWASP minimum parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use shared::error::Refusal;

/// Argon2id at the OWASP minimum (m = 19 MiB, t = 2, p = 1).
fn argon2() -> Result<Argon2<'static>, Refusal> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|_| Refusal::internal())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub fn hash_password(password: &str) -> Result<String, Refusal> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| Refusal::internal())?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| Refusal::internal())?;
    Ok(argon2()?.hash_password(password.as_bytes(), &salt).map_err(|_| Refusal::internal())?.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}
