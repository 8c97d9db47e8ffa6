//! The sticker pack shipped with natter (images in `assets/stickers/`,
//! served at `/stickers/<id>.svg`). Messages refer to stickers by id.

/// Every sticker: id and a description (also its alt text).
pub const STICKERS: &[(&str, &str)] = &[
    ("wave", "A waving hand"),
    ("heart", "A red heart"),
    ("thumbs-up", "Thumbs up"),
    ("party", "Party popper"),
    ("coffee", "A cup of coffee"),
    ("cat", "A smiling cat"),
];

/// True for a sticker in the pack.
pub fn exists(id: &str) -> bool {
    STICKERS.iter().any(|(known, _)| *known == id)
}

/// Where the browser finds a sticker's image.
pub fn url(id: &str) -> String {
    format!("/stickers/{id}.svg")
}
