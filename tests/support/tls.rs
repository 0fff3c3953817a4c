//! Certificates the mTLS tests make for themselves: a CA, a server certificate for
//! 127.0.0.1, and client certificates whose URI SAN is a SPIFFE ID, written as PEM
//! files; an Envoy template whose listener takes TLS with optional client
//! certificates (validated against the CA); and curl as the TLS client.
//!
//! ```ignore
//! let pki = Pki::new(&["spiffe://cluster.local/ns/shop/sa/frontend"]);
//! let envoy = Envoy::builder(&config, upstream.port()).template(&pki.envoy_template()).start();
//! let status = pki.get(envoy.port(), "/", Some(0), &[("authorization", "Bearer …")]);
//! ```

use std::path::PathBuf;
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use sha2::{Digest, Sha256};

use super::envoy_yaml;
use super::http::form_encode;
use super::keys;

/// A client certificate and its key on disk.
pub struct Client {
    /// The SPIFFE ID it was issued to (its URI SAN).
    pub id: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// SHA-256 of the certificate's DER.
    pub sha256: Vec<u8>,
}

impl Client {
    /// `cnf.x5t#S256` of this certificate (RFC 8705).
    pub fn x5t_s256(&self) -> String {
        keys::b64(&self.sha256)
    }
}

/// The test PKI in a temp dir.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub clients: Vec<Client>,
}

impl Pki {
    /// A CA, a server certificate, and one client certificate per URI SAN.
    pub fn new(client_ids: &[&str]) -> Pki {
        let dir = super::temp::dir("pki");
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "audgate test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = write("ca.pem", &ca_cert.pem());
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server_params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server = server_params.signed_by(&server_key, &issuer).unwrap();
        let server_cert = write("server.pem", &server.pem());
        let server_key_path = write("server.key", &server_key.serialize_pem());

        let clients = client_ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let key = KeyPair::generate().unwrap();
                let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
                params
                    .subject_alt_names
                    .push(SanType::URI(id.to_string().try_into().unwrap()));
                params.distinguished_name.push(DnType::CommonName, *id);
                let cert = params.signed_by(&key, &issuer).unwrap();
                Client {
                    id: id.to_string(),
                    cert: write(&format!("client-{n}.pem"), &cert.pem()),
                    key: write(&format!("client-{n}.key"), &key.serialize_pem()),
                    sha256: Sha256::digest(cert.der()).to_vec(),
                }
            })
            .collect();
        Pki {
            dir,
            ca,
            server_cert,
            server_key: server_key_path,
            clients,
        }
    }

    /// `envoy/envoy.yaml` with TLS on the listener: the server certificate, and
    /// client certificates optional but, when sent, checked against the CA.
    pub fn envoy_template(&self) -> String {
        let template = envoy_yaml::template();
        let chain = "    filter_chains:\n    - filters:\n";
        assert_eq!(
            template.matches(chain).count(),
            1,
            "one filter chain in envoy.yaml"
        );
        let tls = format!(
            "    filter_chains:\n    - transport_socket:\n        name: envoy.transport_sockets.tls\n        typed_config:\n          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n          require_client_certificate: false\n          common_tls_context:\n            tls_certificates:\n            - certificate_chain: {{ filename: \"{}\" }}\n              private_key: {{ filename: \"{}\" }}\n            validation_context:\n              trusted_ca: {{ filename: \"{}\" }}\n      filters:\n",
            self.server_cert.display(),
            self.server_key.display(),
            self.ca.display()
        );
        template.replace(chain, &tls)
    }

    /// `envoy/outbound.yaml` with its `sts` cluster speaking TLS: the STS's
    /// certificate checked against the CA (and for 127.0.0.1), and client
    /// certificate `client` (an index into `clients`) presented, or none.
    pub fn outbound_template(&self, client: Option<usize>) -> String {
        let cluster = "  - name: sts\n    type: STATIC\n    connect_timeout: 1s\n";
        self.cluster_over_tls(&envoy_yaml::outbound_template(), cluster, client)
    }

    /// `envoy/envoy.yaml` with its `jwks` cluster speaking TLS, as
    /// [`Pki::outbound_template`] makes the `sts` cluster (an introspection
    /// endpoint with `tls_client_auth`, say).
    pub fn jwks_over_tls(&self, template: &str, client: Option<usize>) -> String {
        let cluster = "  - name: jwks\n    type: STATIC\n    connect_timeout: 1s\n";
        self.cluster_over_tls(template, cluster, client)
    }

    /// `template` with the cluster that starts with `cluster` speaking TLS.
    fn cluster_over_tls(&self, template: &str, cluster: &str, client: Option<usize>) -> String {
        assert_eq!(
            template.matches(cluster).count(),
            1,
            "one such cluster in the template"
        );
        let certificate = client.map_or(String::new(), |index| {
            let client = &self.clients[index];
            format!(
                "          tls_certificates:\n          - certificate_chain: {{ filename: \"{}\" }}\n            private_key: {{ filename: \"{}\" }}\n",
                client.cert.display(),
                client.key.display()
            )
        });
        let tls = format!(
            "{cluster}    transport_socket:\n      name: envoy.transport_sockets.tls\n      typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n        common_tls_context:\n{certificate}          validation_context:\n            trusted_ca: {{ filename: \"{}\" }}\n            match_typed_subject_alt_names:\n            - san_type: IP_ADDRESS\n              matcher: {{ exact: \"127.0.0.1\" }}\n",
            self.ca.display()
        );
        template.replace(cluster, &tls)
    }

    /// `POST path` of the form `fields` over TLS with curl, presenting client
    /// certificate `client` (an index into `clients`) or none; the status and
    /// the body.
    pub fn post_form(
        &self,
        port: u16,
        path: &str,
        fields: &[(&str, &str)],
        client: Option<usize>,
    ) -> (u16, String) {
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        let mut curl = self.curl(client);
        let out = curl
            .args(["-w", "\n%{http_code}", "--data-binary"])
            .arg(body.join("&"))
            .arg(format!("https://127.0.0.1:{port}{path}"))
            .output()
            .expect("curl (Debian package curl) runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or_default();
        let status = status.parse().unwrap_or(0);
        assert!(
            status != 0,
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (status, body.to_owned())
    }

    /// curl trusting the CA, presenting client certificate `client` or none.
    fn curl(&self, client: Option<usize>) -> Command {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--cacert"]).arg(&self.ca);
        if let Some(index) = client {
            let client = &self.clients[index];
            curl.arg("--cert")
                .arg(&client.cert)
                .arg("--key")
                .arg(&client.key);
        }
        curl
    }

    /// `GET path` over TLS with curl, presenting client certificate `client` (an
    /// index into `clients`) or none; the status.
    pub fn get(
        &self,
        port: u16,
        path: &str,
        client: Option<usize>,
        headers: &[(&str, &str)],
    ) -> u16 {
        let mut curl = self.curl(client);
        curl.args(["-o", "/dev/null", "-w", "%{http_code}"]);
        for (name, value) in headers {
            curl.arg("-H").arg(format!("{name}: {value}"));
        }
        let out = curl
            .arg(format!("https://127.0.0.1:{port}{path}"))
            .output()
            .expect("curl (Debian package curl) runs");
        let status = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
        assert!(
            status != 0,
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        status
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
