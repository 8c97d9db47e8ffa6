//! Case mapping by the browser's `toLowerCase`/`toUpperCase`: Rust's
//! `str::to_lowercase`/`to_uppercase` link core's Unicode case tables,
//! ~25 KB of the wasm (issue 13, size), for what the browser already knows.
//! Native builds (the unit tests) use Rust's, which map the same way.

/// `text` in lower case.
pub fn lowercase(text: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    return js_sys::JsString::from(text).to_lower_case().into();
    #[cfg(not(target_arch = "wasm32"))]
    text.to_lowercase()
}

/// `text` in upper case.
pub fn uppercase(text: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    return js_sys::JsString::from(text).to_upper_case().into();
    #[cfg(not(target_arch = "wasm32"))]
    text.to_uppercase()
}
