//! The application services: one layer every actor goes through. A [`principal::Principal`]
//! (candidate, staff, the system) travels into a service call, which loads through the store,
//! checks the principal's reach in one place, calls the pure `decide` of the domain and writes
//! one conditional transaction. Also the ports besides the table (objects, queue, clock, WeChat
//! login, face verification) and cold-start configuration. No adapter lives here.

#[cfg(feature = "accounts")]
pub mod accounts;
pub mod applications;
pub mod audit;
pub mod config;
pub mod history_import;
pub mod limits;
#[cfg(any(feature = "accounts", feature = "staff"))]
pub mod password;
pub mod payments;
pub mod photo;
pub mod ports;
pub mod principal;
pub mod reminders;
pub mod secret;
pub mod session;
#[cfg(feature = "staff")]
pub mod staff;
pub mod staff_session;
pub mod sweep;
pub mod uploads;

pub use principal::Principal;
