//! Turning uploaded bytes into a stored image: the type from the bytes
//! themselves, dimensions checked before decoding, metadata dropped by
//! re-encoding, and a thumbnail.

use std::io::Cursor;

use image::{
    codecs::{jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder},
    DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits,
};
use natter_common::limits::{MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, THUMBNAIL_SIDE};
use sha2::{Digest, Sha256};

/// Why an upload is not an acceptable image; the message is for people.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub struct Processed {
    /// SHA-256 (hex) of `bytes`.
    pub id: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub thumb: Vec<u8>,
    pub thumb_mime: &'static str,
    pub thumb_width: u32,
    pub thumb_height: u32,
}

fn refuse(message: impl Into<String>) -> Refused {
    Refused(message.into())
}

/// Checks and converts an upload. CPU-bound: run it off the async runtime.
pub fn process(original: &[u8]) -> Result<Processed, Refused> {
    let format =
        image::guess_format(original).map_err(|_| refuse("Only JPEG, PNG, GIF and WebP images are accepted."))?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(refuse("Only JPEG, PNG, GIF and WebP images are accepted."));
    }
    let mut reader = ImageReader::with_format(Cursor::new(original), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|err| match err {
        // The decoder refuses a side over the limit from the header alone.
        image::ImageError::Limits(_) => refuse(format!(
            "Images may be at most {MAX_IMAGE_SIDE} pixels wide or high, and {} megapixels.",
            MAX_IMAGE_PIXELS / 1_000_000
        )),
        _ => refuse("The image is damaged or not really an image."),
    })?;
    // The header's claim, checked before a single pixel is decoded.
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(refuse("The image is empty."));
    }
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(refuse(format!(
            "Images may have at most {} megapixels.",
            MAX_IMAGE_PIXELS / 1_000_000
        )));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|_| refuse("The image is damaged or truncated."))?;

    // Re-encoding keeps the pixels and drops EXIF (GPS included) and other
    // metadata. Animated GIFs are kept as uploaded (GIF carries no EXIF).
    let (mime, bytes) = match format {
        ImageFormat::Gif => ("image/gif", original.to_vec()),
        _ => {
            if let Some(orientation) = orientation {
                // The pixels are turned upright, since the tag saying how is dropped.
                image.apply_orientation(orientation);
            }
            match format {
                ImageFormat::Jpeg => ("image/jpeg", encode_jpeg(&image, 90)?),
                ImageFormat::Png => ("image/png", encode_png(&image)?),
                _ => ("image/webp", encode_webp(&image)?),
            }
        }
    };
    let thumbnail = if image.width().max(image.height()) > THUMBNAIL_SIDE {
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        image.clone()
    };
    let (thumb_mime, thumb) = if thumbnail.color().has_alpha() {
        ("image/png", encode_png(&thumbnail)?)
    } else {
        ("image/jpeg", encode_jpeg(&thumbnail, 80)?)
    };
    Ok(Processed {
        id: hex::encode(Sha256::digest(&bytes)),
        mime,
        width: image.width(),
        height: image.height(),
        bytes,
        thumb_width: thumbnail.width(),
        thumb_height: thumbnail.height(),
        thumb,
        thumb_mime,
    })
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    // JPEG has no alpha: flatten to RGB first.
    DynamicImage::ImageRgb8(image.to_rgb8())
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality))
        .map_err(|_| refuse("The image could not be converted."))?;
    Ok(out)
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    image
        .write_with_encoder(PngEncoder::new(&mut out))
        .map_err(|_| refuse("The image could not be converted."))?;
    Ok(out)
}

fn encode_webp(image: &DynamicImage) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(image.to_rgba8())
        .write_with_encoder(WebPEncoder::new_lossless(&mut out))
        .map_err(|_| refuse("The image could not be converted."))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        encode_png(&image).unwrap()
    }

    #[test]
    fn thumbnails_fit_in_320() {
        let done = process(&png(1000, 500)).unwrap();
        assert_eq!((done.width, done.height), (1000, 500));
        assert_eq!((done.thumb_width, done.thumb_height), (320, 160));
        assert_eq!(done.mime, "image/png");
        let small = process(&png(40, 30)).unwrap();
        assert_eq!((small.thumb_width, small.thumb_height), (40, 30));
    }

    #[test]
    fn a_side_over_the_limit_is_named_not_called_damage() {
        let Err(refused) = process(&png(MAX_IMAGE_SIDE + 1, 1)) else {
            panic!("a 16385-pixel side was accepted");
        };
        assert!(refused.0.contains("16384 pixels"), "{}", refused.0);
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(process(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>").is_err());
        assert!(process(b"<html><script>alert(1)</script></html>").is_err());
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert!(process(&truncated).is_err());
    }
}
