//! One place that maps every failure a browser or API client can see to a status code, a
//! user-facing title and message, and a log reason. Internal error text never reaches the page.

use http::StatusCode;

/// Everything that ends a request with an error page (or a JSON error for API clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// No valid session on a protected route and the client asked for JSON.
    Unauthenticated,
    /// Signed in, but the authorization rules refuse this user.
    Forbidden { reason: &'static str },
    /// The callback arrived without the CSRF cookie set by `/start` (expired, other browser, cookies off).
    CsrfCookieMissing,
    /// The `state` did not belong to this browser's login (forged, replayed or from another login).
    CsrfStateMismatch,
    /// The callback carried neither a code nor an error.
    CallbackMissingCode,
    /// The identity provider answered the login with an OAuth error (e.g. `access_denied`).
    ProviderDenied {
        error: String,
        description: Option<String>,
    },
    /// The identity provider could not be reached or answered garbage.
    ProviderUnavailable,
    /// The provider's answer failed validation (signature, audience, nonce, unverified email...).
    LoginRejected { reason: String },
    /// The provider is not ready (discovery has not succeeded yet).
    ProviderNotReady,
    /// A redirect target was refused.
    InvalidRedirect,
    /// `provider=` named a provider this instance does not have.
    UnknownProvider,
    /// A request the proxy refuses to forward (e.g. dot segments in the path).
    BadRequest,
    /// Unknown route below the proxy prefix, or no upstream for the path.
    NotFound,
    /// Method not allowed on an endpoint.
    MethodNotAllowed,
    /// The app could not be reached.
    UpstreamUnavailable,
    /// The app did not answer in time.
    UpstreamTimeout,
    /// Every htpasswd password check was busy (`htpasswd_max_concurrent_checks`): the
    /// credentials were not checked. Answered 503 with `Retry-After`.
    LoginsBusy,
    /// The session store (Redis) cannot be reached: no session can be read or written. Fail
    /// closed: 503, never the app.
    SessionStoreUnavailable,
    /// A request body over `max_endpoint_body_bytes` sent to one of the proxy's endpoints.
    BodyTooLarge,
    /// A bug or an unexpected condition; details are logged, never shown.
    Internal,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. }
            | AppError::CsrfCookieMissing
            | AppError::CsrfStateMismatch
            | AppError::ProviderDenied { .. }
            | AppError::LoginRejected { .. } => StatusCode::FORBIDDEN,
            AppError::CallbackMissingCode
            | AppError::BadRequest
            | AppError::InvalidRedirect
            | AppError::UnknownProvider => StatusCode::BAD_REQUEST,
            AppError::ProviderUnavailable | AppError::UpstreamUnavailable => {
                StatusCode::BAD_GATEWAY
            }
            AppError::ProviderNotReady => StatusCode::SERVICE_UNAVAILABLE,
            AppError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            AppError::LoginsBusy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::SessionStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short page title.
    pub fn title(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "Sign in required",
            AppError::Forbidden { .. } => "Access denied",
            AppError::CsrfCookieMissing | AppError::CsrfStateMismatch => {
                "Sign-in could not be completed"
            }
            AppError::CallbackMissingCode => "Bad sign-in response",
            AppError::ProviderDenied { .. } => "Sign-in was refused",
            AppError::ProviderUnavailable => "Identity provider unavailable",
            AppError::LoginRejected { .. } => "Sign-in rejected",
            AppError::ProviderNotReady => "Not ready yet",
            AppError::InvalidRedirect => "Invalid redirect",
            AppError::UnknownProvider => "Unknown provider",
            AppError::BadRequest => "Bad request",
            AppError::NotFound => "Not found",
            AppError::MethodNotAllowed => "Method not allowed",
            AppError::UpstreamUnavailable => "Application unavailable",
            AppError::UpstreamTimeout => "Application timed out",
            AppError::LoginsBusy => "Too many sign-in attempts",
            AppError::SessionStoreUnavailable => "Sessions unavailable",
            AppError::BodyTooLarge => "Request too large",
            AppError::Internal => "Internal error",
        }
    }

    /// The message shown to the user (plain text; the page layer escapes it).
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated => "You need to sign in to access this resource.".into(),
            AppError::Forbidden { .. } => {
                "Your account is not allowed to access this application.".into()
            }
            AppError::CsrfCookieMissing => {
                "Your sign-in attempt expired or was started in another browser. \
                 Please try again."
                    .into()
            }
            AppError::CsrfStateMismatch => {
                "The sign-in response did not match the sign-in you started. Please try again."
                    .into()
            }
            AppError::CallbackMissingCode => {
                "The identity provider's response was missing the authorization code.".into()
            }
            AppError::ProviderDenied { error, description } => match description {
                Some(d) if !d.is_empty() => format!("The identity provider answered: {error}: {d}"),
                _ => format!("The identity provider answered: {error}"),
            },
            AppError::ProviderUnavailable => {
                "The identity provider could not be reached. Please try again in a moment.".into()
            }
            AppError::LoginRejected { reason } => {
                format!("The identity provider's answer was not accepted: {reason}.")
            }
            AppError::ProviderNotReady => {
                "The proxy has not reached its identity provider yet. Please try again in a moment."
                    .into()
            }
            AppError::InvalidRedirect => "The redirect target is not allowed.".into(),
            AppError::UnknownProvider => {
                "The requested identity provider is not configured.".into()
            }
            AppError::BadRequest => "The request could not be understood.".into(),
            AppError::NotFound => "The page you asked for does not exist.".into(),
            AppError::MethodNotAllowed => "This endpoint does not accept that method.".into(),
            AppError::UpstreamUnavailable => {
                "The application behind this proxy is not responding. Please try again shortly."
                    .into()
            }
            AppError::UpstreamTimeout => "The application took too long to answer.".into(),
            AppError::LoginsBusy => {
                "Too many passwords are being checked right now. Please try again in a moment."
                    .into()
            }
            AppError::SessionStoreUnavailable => {
                "The session store cannot be reached, so your session cannot be checked. Please try again in a moment.".into()
            }
            AppError::BodyTooLarge => {
                "The request body is larger than this endpoint accepts.".into()
            }
            AppError::Internal => "Something went wrong on our side. Please try again.".into(),
        }
    }

    /// Whether a "try again" link makes sense on the page.
    pub fn can_retry(&self) -> bool {
        matches!(
            self,
            AppError::CsrfCookieMissing
                | AppError::CsrfStateMismatch
                | AppError::CallbackMissingCode
                | AppError::ProviderDenied { .. }
                | AppError::ProviderUnavailable
                | AppError::LoginRejected { .. }
                | AppError::ProviderNotReady
                | AppError::UpstreamUnavailable
                | AppError::UpstreamTimeout
                | AppError::LoginsBusy
                | AppError::SessionStoreUnavailable
                | AppError::Internal
        )
    }

    /// A stable machine-readable reason for logs and JSON bodies.
    pub fn reason(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden { reason } => reason,
            AppError::CsrfCookieMissing => "csrf_cookie_missing",
            AppError::CsrfStateMismatch => "csrf_state_mismatch",
            AppError::CallbackMissingCode => "callback_missing_code",
            AppError::ProviderDenied { .. } => "provider_denied",
            AppError::ProviderUnavailable => "provider_unavailable",
            AppError::LoginRejected { .. } => "login_rejected",
            AppError::ProviderNotReady => "provider_not_ready",
            AppError::InvalidRedirect => "invalid_redirect",
            AppError::UnknownProvider => "unknown_provider",
            AppError::BadRequest => "bad_request",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::UpstreamUnavailable => "upstream_unavailable",
            AppError::UpstreamTimeout => "upstream_timeout",
            AppError::LoginsBusy => "logins_busy",
            AppError::SessionStoreUnavailable => "session_store_unavailable",
            AppError::BodyTooLarge => "body_too_large",
            AppError::Internal => "internal_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_problems_are_forbidden_and_retryable() {
        for e in [AppError::CsrfCookieMissing, AppError::CsrfStateMismatch] {
            assert_eq!(e.status(), StatusCode::FORBIDDEN);
            assert!(e.can_retry());
        }
    }

    #[test]
    fn authorization_denial_is_not_retryable() {
        let e = AppError::Forbidden {
            reason: "email_domain_not_allowed",
        };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert!(!e.can_retry());
        assert_eq!(e.reason(), "email_domain_not_allowed");
    }

    #[test]
    fn upstream_failures_map_to_gateway_statuses() {
        assert_eq!(
            AppError::UpstreamUnavailable.status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            AppError::UpstreamTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn provider_denial_message_includes_description() {
        let e = AppError::ProviderDenied {
            error: "access_denied".into(),
            description: Some("user cancelled".into()),
        };
        assert!(e.message().contains("access_denied: user cancelled"));
    }
}
