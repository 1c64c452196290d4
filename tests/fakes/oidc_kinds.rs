//! The OpenID Connect provider kinds' fakes, on [`OidcFake`] with each provider's documented
//! endpoint paths and claim shapes:
//!
//! * ADFS: issuer `{base}/adfs`, `/adfs/oauth2/authorize`, `/adfs/oauth2/token`,
//!   `/adfs/userinfo` (answers only `sub`), `/adfs/discovery/keys`; ID tokens carry `upn`,
//!   `unique_name` and `group`-style claims but no `email` unless a claim rule adds it.
//! * cidaas: `/authz-srv/authz`, `/token-srv/token`, `/users-srv/userinfo` (groups as
//!   `{"groupId", "roles"}` objects, `roles`), `/.well-known/jwks.json`; refreshes return
//!   a new ID token.
//! * login.gov: issuer `{base}/` (with the slash), no discovery, `/openid_connect/authorize`,
//!   `/api/openid_connect/token` (client authentication by `private_key_jwt` only),
//!   `/api/openid_connect/userinfo` (`email`, `email_verified`), `/api/openid_connect/certs`.

use serde_json::json;

use super::oidc::{AssertionClient, OidcFake, Paths};

/// login.gov's client id shape (an issuer URN) and its key (a PKCS#1 PEM, as login.gov's
/// guides generate it).
pub const LOGIN_GOV_CLIENT_ID: &str = "urn:gov:gsa:openidconnect.profiles:sp:sso:agency:app";
pub const LOGIN_GOV_KEY_PEM: &str = include_str!("../fixtures/logingov-client-rsa.pem");

fn paths(authorize: &str, token: &str, userinfo: &str, jwks: &str) -> Paths {
    Paths {
        authorize: authorize.into(),
        token: token.into(),
        userinfo: userinfo.into(),
        jwks: jwks.into(),
    }
}

/// ADFS with users `jdoe` (UPN only) and `mail` (an email claim rule).
pub async fn adfs() -> OidcFake {
    let fake = OidcFake::start_paths(
        "/adfs",
        None,
        paths(
            "/adfs/oauth2/authorize",
            "/adfs/oauth2/token",
            "/adfs/userinfo",
            "/adfs/discovery/keys",
        ),
    )
    .await;
    fake.add_user(
        "jdoe",
        json!({"upn": "jdoe@corp.example", "unique_name": "CORP\\jdoe", "groups": ["Domain Users", "App Users"], "auth_time": 1700000000, "authmethod": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", "ver": "1.0"}),
    );
    fake.add_user(
        "mail",
        json!({"upn": "mail@corp.example", "email": "mail.user@corp.example", "groups": ["Domain Users"]}),
    );
    {
        let mut s = fake.state.lock().unwrap();
        s.userinfo_sub_only = true;
        s.refresh_id_token = true;
    }
    fake
}

/// cidaas with users `cara` (group customers as member, role USER) and `gus` (no groups).
pub async fn cidaas() -> OidcFake {
    let fake = OidcFake::start_paths(
        "",
        None,
        paths(
            "/authz-srv/authz",
            "/token-srv/token",
            "/users-srv/userinfo",
            "/.well-known/jwks.json",
        ),
    )
    .await;
    fake.add_user(
        "cara",
        json!({"email": "cara@example.com", "email_verified": true}),
    );
    fake.set_userinfo(
        "cara",
        json!({"groups": [{"groupId": "customers", "roles": ["member"]}], "roles": ["USER"]}),
    );
    fake.add_user(
        "gus",
        json!({"email": "gus@example.com", "email_verified": true}),
    );
    fake.set_userinfo("gus", json!({"groups": [], "roles": []}));
    fake.state.lock().unwrap().refresh_id_token = true;
    fake
}

/// The RSA public key (PKCS#1 DER) of [`LOGIN_GOV_KEY_PEM`].
fn login_gov_public_key() -> Vec<u8> {
    use base64::Engine as _;
    let body: String = LOGIN_GOV_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let key = aws_lc_rs::rsa::KeyPair::from_der(&der).unwrap();
    aws_lc_rs::signature::KeyPair::public_key(&key)
        .as_ref()
        .to_vec()
}

/// login.gov with users `lgu` (verified address) and `noflag` (userinfo without
/// `email_verified`).
pub async fn login_gov() -> OidcFake {
    let fake = OidcFake::start_paths(
        "",
        Some("/"),
        paths(
            "/openid_connect/authorize",
            "/api/openid_connect/token",
            "/api/openid_connect/userinfo",
            "/api/openid_connect/certs",
        ),
    )
    .await;
    fake.add_user(
        "lgu",
        json!({"acr": "http://idmanagement.gov/ns/assurance/loa/1", "jti": "id-jti-1"}),
    );
    fake.set_userinfo(
        "lgu",
        json!({"email": "lgu@example.gov", "email_verified": true, "all_emails": ["lgu@example.gov"]}),
    );
    fake.add_user(
        "noflag",
        json!({"acr": "http://idmanagement.gov/ns/assurance/loa/1"}),
    );
    fake.set_userinfo("noflag", json!({"email": "noflag@example.gov"}));
    {
        let mut s = fake.state.lock().unwrap();
        s.no_discovery = true;
        s.no_refresh_tokens = true;
        s.audience = Some(LOGIN_GOV_CLIENT_ID.into());
        s.assertion_client = Some(AssertionClient {
            client_id: LOGIN_GOV_CLIENT_ID.into(),
            public_key: login_gov_public_key(),
        });
    }
    fake
}
