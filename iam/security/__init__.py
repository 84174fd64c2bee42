"""Sign-in security: MFA (django-allauth's), an organization's MFA requirement, idle and
absolute session timeouts, and the list of a user's sessions with signing them out."""
