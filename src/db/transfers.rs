//! Requests to move a practice to another MSP partner (partner_transfer_requests).
