//! Invitations to join a practice (client_invites).
