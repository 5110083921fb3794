//! Email for Salur: reading RFC 5322 mail into [`salur_channels_core::InboundMessage`]s
//! (forwards, replies, bounces, auto-replies), fetching it over IMAP, and
//! sending acknowledgements over SMTP.

pub mod imap;
pub mod push;
pub mod read;
pub mod smtp;

/// The certificates of a PEM file's text (a private CA an operator trusts
/// besides the public roots), as DER.
///
/// # Errors
/// A message naming what is wrong when the text holds no certificate or a
/// broken one.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it (expected -----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}
