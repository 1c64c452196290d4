//! Local fakes of GitHub, Google, Microsoft and GitLab (and an RS256 OpenID Connect
//! provider they build on), as in-process hyper servers on 127.0.0.1. Shared by the unit
//! tests in `src/provider/` (through `#[path]`) and the end-to-end tests.
#![allow(dead_code)]

pub mod github;
pub mod gitlab;
pub mod google;
pub mod oidc;
pub mod server;
