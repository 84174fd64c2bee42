"""Per-organization single sign-on: verified e-mail domains, OpenID Connect and SAML 2.0
connections to the organization's own identity provider, and the sign-in they offer."""
