//! The front end, embedded at build time (see build.rs): no file is read
//! at run time and nothing is fetched by the page from elsewhere.

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The content type and bytes of `web/dist/NAME`.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, m, b)| (*m, *b))
}
