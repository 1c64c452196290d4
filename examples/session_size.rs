//! Cookie bytes of one Microsoft Entra ID session whose tokens carry 200 group object ids (the
//! case that outgrows cookie sessions), with the cookie session store and with the Redis store.
//! Prints a Markdown table; `bench/redis.sh` puts it in its results.
//!
//! The tokens are shaped like Entra's v2.0 tokens (claim names and sizes; RS256 signatures are
//! 256 bytes), with random contents: only their length matters here.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use authproxy::config::SameSite;
use authproxy::crypto::CookieSecret;
use authproxy::session::codec::SessionCodec;
use authproxy::session::cookie::{make_cookies, CookieOptions};
use authproxy::session::redis::{Ticket, TicketCodec};
use authproxy::session::SessionState;
use base64::Engine as _;

const GROUPS: usize = 200;
const NAME: &str = "_oauth2_proxy";

fn guid(i: usize) -> String {
    let h = authproxy::crypto::sha256(format!("group-{i}").as_bytes());
    let x: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn jwt(claims: &serde_json::Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header =
        serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "nOo3ZDrODXEK1jKWhXslHR_KXEg"});
    format!(
        "{}.{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string()),
        b64.encode([7u8; 256])
    )
}

fn main() {
    let groups: Vec<String> = (0..GROUPS).map(guid).collect();
    let tenant = guid(10_000);
    let common = serde_json::json!({
        "iss": format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        "iat": 1_764_633_600, "nbf": 1_764_633_600, "exp": 1_764_637_500,
        "name": "Alice Example", "oid": guid(20_000), "preferred_username": "alice@contoso.example",
        "email": "alice@contoso.example", "tid": tenant, "ver": "2.0", "groups": groups,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "rh": "0.AXQAkHZB6hk_2E2ZCiK-Zr8rigkAAAAAAAAAwAAAAAAAAAB0AAA.",
    });
    let mut id = common.clone();
    id["aud"] = guid(30_000).into();
    id["nonce"] = "8QJ3bHkCmZ4vXk3nQY7bHw".into();
    let mut access = common;
    access["aud"] = format!("api://{}", guid(30_000)).into();
    access["scp"] = "user.read".into();
    access["azp"] = guid(30_000).into();
    let now = SystemTime::now();
    let session = SessionState {
        created_at: Some(now),
        expires_on: Some(now + Duration::from_secs(3900)),
        access_token: jwt(&access),
        id_token: jwt(&id),
        refresh_token: "0.AXQA".to_owned() + &"r".repeat(1_400),
        nonce: vec![9; 32],
        email: "alice@contoso.example".into(),
        user: guid(20_000),
        groups,
        preferred_username: "alice@contoso.example".into(),
        additional_claims: BTreeMap::new(),
    };
    let secret = CookieSecret::parse(&[42u8; 32]).expect("a 32-byte secret");
    let opts = CookieOptions {
        name: NAME.into(),
        domains: vec![".example.com".into()],
        path: "/".into(),
        expire: Duration::from_secs(168 * 3600),
        secure: true,
        httponly: true,
        samesite: SameSite::Lax,
    };

    let value = SessionCodec::new(secret.clone(), NAME, opts.expire)
        .encode(&session, now)
        .expect("encode the session");
    let set_cookies = make_cookies(&opts, &value, "app.example.com").expect("cookies");
    let cookie_header: usize = set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap_or("").len() + 2)
        .sum();

    let tickets = TicketCodec::new(&[secret], NAME, opts.expire).expect("ticket codec");
    let ticket = Ticket::new(NAME);
    let ticket_cookie = tickets.cookie_value(&ticket, now);
    let stored = ticket.seal_session(&session, now).expect("seal");

    println!("Session size: an Entra ID session with {GROUPS} groups in its ID and access tokens (`examples/session_size.rs`)");
    println!();
    println!("| session store | cookies | Cookie header bytes | stored in Redis |");
    println!("|---|---:|---:|---:|");
    println!(
        "| cookie | {} (`{NAME}_0` … `_{}`) | {} | — |",
        set_cookies.len(),
        set_cookies.len().saturating_sub(1),
        cookie_header.saturating_sub(2)
    );
    println!(
        "| Redis | 1 (`{NAME}`) | {} | {} bytes |",
        NAME.len() + 1 + ticket_cookie.len(),
        stored.len()
    );
    println!();
    println!(
        "nginx's default `large_client_header_buffers 4 8k` refuses a single header line over 8 KiB: \
         the cookie store's Cookie header here is {:.1} KiB.",
        cookie_header as f64 / 1024.0
    );
}
