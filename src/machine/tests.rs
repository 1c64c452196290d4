use super::*;

#[test]
fn authorization_schemes_split_on_the_first_space() {
    assert_eq!(split_authorization("Bearer abc"), Some(("Bearer", "abc")));
    assert_eq!(split_authorization("bearer  abc "), Some(("bearer", "abc")));
    assert_eq!(split_authorization("Bearer"), None);
    assert_eq!(split_authorization("Bearer   "), None);
}

#[test]
fn basic_credentials_need_a_user_and_a_colon() {
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        basic_credentials(&enc("alice:pa:ss")),
        Some(("alice".into(), "pa:ss".into()))
    );
    assert_eq!(
        basic_credentials(&enc("alice:")),
        Some(("alice".into(), String::new()))
    );
    assert_eq!(basic_credentials(&enc(":pw")), None);
    assert_eq!(basic_credentials(&enc("nocolon")), None);
    assert_eq!(basic_credentials("!!!"), None);
}
