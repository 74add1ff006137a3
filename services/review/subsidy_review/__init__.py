"""The review service: checks, duplicate resolution, correction requests (補正依頼), the
handover to the ward and the ward's decisions (交付・不交付決定), flow steps 3, 5, 6 and 7."""
