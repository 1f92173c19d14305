//! Standard Webhooks signing: `whsec_` secrets and the `v1,` HMAC-SHA256 signature of
//! `{webhook-id}.{webhook-timestamp}.{body}`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What a secret starts with.
pub const PREFIX: &str = "whsec_";
/// Bytes of key in a generated secret.
const GENERATED_BYTES: usize = 32;
/// Key sizes the specification allows (24 to 64 bytes).
const MIN_KEY: usize = 24;
const MAX_KEY: usize = 64;

/// A new random secret, `whsec_<base64 of 32 bytes>`.
pub fn generate_secret() -> String {
    let mut key = [0u8; GENERATED_BYTES];
    rand::rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_…` secret, or why it is not one.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("a secret starts with {PREFIX}"))?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| format!("the part after {PREFIX} must be standard base64"))?;
    if !(MIN_KEY..=MAX_KEY).contains(&key.len()) {
        return Err(format!(
            "the key must be {MIN_KEY} to {MAX_KEY} bytes (this one has {})",
            key.len()
        ));
    }
    Ok(key)
}

/// The `webhook-signature` header value for one delivery.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The test vector of the Standard Webhooks reference libraries signs to the published
    /// signature.
    #[test]
    fn reference_vector() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// Generated secrets parse back to 32 bytes; malformed ones are refused with a reason.
    #[test]
    fn secrets() {
        assert_eq!(secret_key(&generate_secret()).unwrap().len(), 32);
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(secret_key("whsec_!!!").is_err());
        assert!(secret_key("whsec_c2hvcnQ=").is_err());
    }
}
