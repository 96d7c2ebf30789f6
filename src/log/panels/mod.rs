//! `tplog report`: GoAccess's panels and more, from the same engine.
//!
//! scan ([`acc`], filled by the engine's workers) → data ([`model`], the
//! JSON and what the page shows) → page ([`html`], one self-contained
//! file) or a live server ([`live`]).

pub mod acc;
pub mod agent;
pub mod html;
pub mod live;
pub mod model;
pub mod tally;

pub use acc::PanelAcc;
pub use model::{Context, Report};
