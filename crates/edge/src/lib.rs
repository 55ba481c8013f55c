//! The HTTP edge: request parsing into types, refusal → status, the route table every function
//! dispatches through, the wire DTOs (masked views), and the OpenAPI document generated from the
//! same table and types — so the contract is what the handlers accept.

pub mod api;
pub mod http;
pub mod staff;
pub mod wire;
