//! Local fakes of GitHub (and Gitea), Google, Microsoft, GitLab, Bitbucket, DigitalOcean,
//! Facebook, LinkedIn, Nextcloud, SourceHut and Keycloak's plain OAuth 2.0 endpoints (and an
//! RS256 OpenID Connect provider the OIDC ones build on: ADFS, cidaas, login.gov), as
//! in-process hyper servers on 127.0.0.1. Shared by the unit tests in `src/provider/`
//! (through `#[path]`) and the end-to-end tests; never part of the authproxy binary.
#![allow(dead_code)]

pub mod bitbucket;
pub mod digitalocean;
pub mod facebook;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod keycloak;
pub mod linkedin;
pub mod nextcloud;
pub mod oauth;
pub mod oidc;
pub mod oidc_kinds;
pub mod server;
pub mod sourcehut;
