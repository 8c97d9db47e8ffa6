//! Image uploads and serving against the real binary: types decided by the
//! bytes, bombs and oversize refused without leftovers, metadata stripped,
//! thumbnails, dedupe, access control, Range and ETag.

use std::io::Cursor;

use image::{codecs::jpeg::JpegEncoder, DynamicImage, ImageFormat, Rgb, RgbImage};
use natter_common::{api::Media, events::MessageContent, frames::ClientFrame, frames::ServerFrame, ErrorCode};
use natter_tests::{
    api::{befriend, expect_error, expect_json, register_all, Authed},
    ws::WsClient,
    TestServer,
};
use reqwest::{header, multipart, StatusCode};

const SETTINGS: [(&str, &str); 2] = [
    ("NATTER_AUTH_RATE_PER_MINUTE", "1000"),
    ("NATTER_MAX_UPLOAD_BYTES", "2000000"),
];

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

/// A JPEG carrying an EXIF block with a GPS latitude reference.
fn jpeg_with_gps() -> Vec<u8> {
    let image = RgbImage::from_fn(64, 48, |x, _| Rgb([x as u8 * 4, 90, 200]));
    let mut plain = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_with_encoder(JpegEncoder::new_with_quality(&mut plain, 90))
        .unwrap();
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]); // IFD0 → GPS IFD
    tiff.extend_from_slice(&[0, 1, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 0, 0, 0]); // GPSLatitudeRef = N
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A valid PNG whose header claims 100000 × 100000 pixels.
fn png_bomb() -> Vec<u8> {
    let mut bytes = png(8, 8);
    // IHDR data starts at 16: width, height; its CRC covers type + data.
    bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

async fn upload(
    user: &Authed,
    server: &TestServer,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<reqwest::Response> {
    let part = multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)?;
    let form = multipart::Form::new().part("file", part);
    Ok(reqwest::Client::new()
        .post(server.at("api/v1/media"))
        .bearer_auth(&user.token)
        .multipart(form)
        .send()
        .await?)
}

/// Stored files (images and thumbnails) and uploads in flight.
fn files_on_disk(server: &TestServer) -> (usize, usize) {
    let dir = server.data_dir().join("media");
    let stored = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .count();
    let in_flight = std::fs::read_dir(dir.join("tmp")).unwrap().count();
    (stored, in_flight)
}

#[tokio::test]
async fn upload_then_fetch_with_thumbnail_etag_and_range() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann] = register_all(&server, ["img_ann"]).await?;
    let media: Media = expect_json(
        upload(&ann, &server, "photo.png", "image/png", png(1200, 600)).await?,
        StatusCode::CREATED,
    )
    .await?;
    assert_eq!(
        (media.width, media.height, media.mime.as_str()),
        (1200, 600, "image/png")
    );
    assert_eq!(media.id.len(), 64);

    let full = ann.get(&media.url).await?;
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(full.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(full.headers()[header::CACHE_CONTROL].to_str()?.contains("immutable"));
    let etag = full.headers()[header::ETAG].to_str()?.to_owned();
    let bytes = full.bytes().await?;
    assert_eq!(bytes.len() as u64, media.size);

    let thumb = image::load_from_memory(&ann.get(&media.thumb_url).await?.bytes().await?)?;
    assert_eq!((thumb.width(), thumb.height()), (320, 160));

    let http = reqwest::Client::new();
    let again = http
        .get(server.at(&media.url))
        .bearer_auth(&ann.token)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let part = http
        .get(server.at(&media.url))
        .bearer_auth(&ann.token)
        .header(header::RANGE, "bytes=0-9")
        .send()
        .await?;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()[header::CONTENT_RANGE],
        format!("bytes 0-9/{}", media.size)
    );
    assert_eq!(part.bytes().await?, bytes.slice(0..10));
    Ok(())
}

#[tokio::test]
async fn identical_uploads_are_stored_once() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann, bob] = register_all(&server, ["dedupe_ann", "dedupe_bob"]).await?;
    let bytes = png(300, 200);
    let first: Media = expect_json(
        upload(&ann, &server, "a.png", "image/png", bytes.clone()).await?,
        StatusCode::CREATED,
    )
    .await?;
    let second: Media = expect_json(
        upload(&ann, &server, "b.png", "image/png", bytes.clone()).await?,
        StatusCode::CREATED,
    )
    .await?;
    let bobs: Media = expect_json(
        upload(&bob, &server, "c.png", "image/png", bytes).await?,
        StatusCode::CREATED,
    )
    .await?;
    assert_eq!(first, second);
    assert_eq!(first, bobs);
    assert_eq!(files_on_disk(&server), (2, 0), "one image and one thumbnail");
    // Bob uploaded it too, so he may fetch it.
    assert_eq!(bob.get(&first.url).await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn everything_but_real_images_is_refused_without_leftovers() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann] = register_all(&server, ["refuse_ann"]).await?;
    let mut truncated = png(200, 200);
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "drawing.svg",
            "image/svg+xml",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
        ),
        (
            "page.png",
            "image/png",
            b"<!DOCTYPE html><html><body onload=alert(1)></body></html>".to_vec(),
        ),
        ("script.png", "image/png", b"#!/bin/sh\nrm -rf /\n".to_vec()),
        ("truncated.png", "image/png", truncated),
        ("bomb.png", "image/png", png_bomb()),
    ];
    for (name, mime, bytes) in cases {
        let error = expect_error(
            upload(&ann, &server, name, mime, bytes).await?,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .await?;
        assert_eq!(error.code, ErrorCode::UnsupportedMedia, "{name}");
    }
    let mut huge = png(8, 8);
    huge.resize(2_500_000, 0);
    let error = expect_error(
        upload(&ann, &server, "huge.png", "image/png", huge).await?,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await?;
    assert_eq!(error.code, ErrorCode::PayloadTooLarge { max_bytes: 2_000_000 });
    assert_eq!(files_on_disk(&server), (0, 0), "no file left behind");
    Ok(())
}

#[tokio::test]
async fn exif_including_gps_is_stripped() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann] = register_all(&server, ["exif_ann"]).await?;
    let original = jpeg_with_gps();
    assert!(
        original.windows(6).any(|w| w == b"Exif\x00\x00"),
        "the fixture carries EXIF"
    );
    let media: Media = expect_json(
        upload(&ann, &server, "gps.jpg", "image/jpeg", original).await?,
        StatusCode::CREATED,
    )
    .await?;
    assert_eq!((media.mime.as_str(), media.width, media.height), ("image/jpeg", 64, 48));
    for url in [&media.url, &media.thumb_url] {
        let served = ann.get(url).await?.bytes().await?;
        assert!(!served.windows(4).any(|w| w == b"Exif"), "{url} still carries EXIF");
        assert!(
            !served.windows(4).any(|w| w == b"MM\x00\x2a"),
            "{url} still carries a TIFF block"
        );
    }
    Ok(())
}

#[tokio::test]
async fn only_the_uploader_and_the_conversation_where_it_was_posted_see_an_image() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann, bob, eve] = register_all(&server, ["acl_ann", "acl_bob", "acl_eve"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let media: Media = expect_json(
        upload(&ann, &server, "p.png", "image/png", png(50, 50)).await?,
        StatusCode::CREATED,
    )
    .await?;

    assert_eq!(
        bob.get(&media.url).await?.status(),
        StatusCode::NOT_FOUND,
        "not posted yet"
    );
    assert_eq!(
        reqwest::get(server.at(&media.url)).await?.status(),
        StatusCode::UNAUTHORIZED
    );

    // Eve can't share an image she can't see.
    let mut eve_ws = WsClient::connect(&server, &eve.token).await?;
    let eve_dm = befriend(&eve, &bob).await?;
    eve_ws
        .send(&ClientFrame::Send {
            client_msg_id: "steal".into(),
            conversation_id: eve_dm,
            content: MessageContent::Image {
                media_id: media.id.clone(),
            },
            reply_to: None,
        })
        .await?;
    let code = eve_ws
        .next_where(|f| {
            if let ServerFrame::Error { code, .. } = f {
                Some(code)
            } else {
                None
            }
        })
        .await?;
    assert_eq!(
        code,
        ErrorCode::InvalidInput {
            field: "media_id".into()
        }
    );

    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    ann_ws
        .send(&ClientFrame::Send {
            client_msg_id: "pic".into(),
            conversation_id: dm,
            content: MessageContent::Image {
                media_id: media.id.clone(),
            },
            reply_to: None,
        })
        .await?;
    ann_ws
        .next_where(|f| matches!(f, ServerFrame::Sent { .. }).then_some(()))
        .await?;

    assert_eq!(bob.get(&media.url).await?.status(), StatusCode::OK);
    assert_eq!(bob.get(&media.thumb_url).await?.status(), StatusCode::OK);
    assert_eq!(eve.get(&media.url).await?.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.get("media/not-an-id").await?.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn uploads_are_rate_limited_per_user_and_decoded_a_few_at_a_time() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann, bob] = register_all(&server, ["flood_ann", "flood_bob"]).await?;
    // Ten at once: they queue for their turn to decode, and all arrive.
    let uploads: Vec<_> = (0..10u32)
        .map(|k| {
            let (ann, server_url) = (ann.clone(), server.url.clone());
            tokio::spawn(async move {
                let part = multipart::Part::bytes(png(600 + k, 400))
                    .file_name("p.png")
                    .mime_str("image/png")?;
                let response = reqwest::Client::new()
                    .post(format!("{server_url}api/v1/media"))
                    .bearer_auth(&ann.token)
                    .multipart(multipart::Form::new().part("file", part))
                    .send()
                    .await?;
                anyhow::Ok(response.status())
            })
        })
        .collect();
    for upload in uploads {
        assert_eq!(upload.await??, StatusCode::CREATED);
    }
    // The burst is twenty: the next ones are refused with a wait.
    let mut refused = None;
    for k in 0..15u32 {
        let response = upload(&ann, &server, "q.png", "image/png", png(300 + k, 200)).await?;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(expect_error(response, StatusCode::TOO_MANY_REQUESTS).await?);
            break;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let refused = refused.expect("twenty-five uploads in a burst were all accepted");
    assert!(matches!(refused.code, ErrorCode::RateLimited { retry_after_ms } if retry_after_ms > 0));
    // Someone else is not held up.
    let response = upload(&bob, &server, "b.png", "image/png", png(64, 64)).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    Ok(())
}

/// Twenty 40-megapixel uploads at once (issue #17): decoded two at a time,
/// the server's peak memory stays under 1 GiB, and someone chatting
/// meanwhile still gets every message acknowledged.
#[tokio::test]
async fn twenty_huge_uploads_at_once_stay_under_a_gibibyte() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&[("NATTER_AUTH_RATE_PER_MINUTE", "1000")]).await?;
    let uploaders = register_all(&server, ["big_1", "big_2", "big_3", "big_4"]).await?;
    let [ann, bob] = register_all(&server, ["chat_ann", "chat_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    // 7 000 × 5 700 = 39.9 megapixels, a few MB as a JPEG.
    let big = tokio::task::spawn_blocking(|| {
        let image = RgbImage::from_fn(7_000, 5_700, |x, y| {
            Rgb([(x / 28) as u8, (y / 23) as u8, ((x ^ y) % 256) as u8])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 80))
            .map(|()| out)
    })
    .await??;
    assert!(big.len() < 10 * 1024 * 1024, "{} bytes", big.len());
    let before = server.peak_rss()?;

    let uploads: Vec<_> = (0..20)
        .map(|k| {
            let (user, url, big) = (uploaders[k % 4].clone(), server.url.clone(), big.clone());
            tokio::spawn(async move {
                let part = multipart::Part::bytes(big)
                    .file_name("big.jpg")
                    .mime_str("image/jpeg")?;
                let response = reqwest::Client::new()
                    .post(format!("{url}api/v1/media"))
                    .bearer_auth(&user.token)
                    .multipart(multipart::Form::new().part("file", part))
                    .send()
                    .await?;
                anyhow::Ok(response.status())
            })
        })
        .collect();
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    let mut slowest = std::time::Duration::ZERO;
    for n in 0..20 {
        let started = std::time::Instant::now();
        ws.post_text(dm, &format!("meanwhile-{n}"), "still here").await?;
        slowest = slowest.max(started.elapsed());
    }
    for upload in uploads {
        assert_eq!(upload.await??, StatusCode::CREATED);
    }
    let peak = server.peak_rss()?;
    println!(
        "20 × 40 MP uploads: peak RSS {} MiB (idle {} MiB); slowest ack meanwhile {slowest:?}",
        peak >> 20,
        before >> 20
    );
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    Ok(())
}

/// Refused before its body is read, an upload still gets its answer, not a
/// connection reset while it is sending.
#[tokio::test]
async fn an_upload_refused_up_front_gets_its_answer_not_a_reset() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let client = reqwest::Client::new();
    // Noise: larger than the socket buffers hold, under the upload limit.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let body: Vec<u8> = (0..1_500_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    for attempt in 0..30 {
        let part = multipart::Part::bytes(body.clone())
            .file_name("a.png")
            .mime_str("image/png")?;
        let response = client
            .post(server.at("api/v1/media"))
            .multipart(multipart::Form::new().part("file", part))
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("attempt {attempt}: {err:?}"))?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    Ok(())
}

/// A profile picture is one of the user's images; everyone signed in sees
/// it wherever the user is listed, it outlives the message it was posted
/// in, and it goes with the account.
#[tokio::test]
async fn an_avatar_is_seen_by_everyone_and_outlives_its_message() -> anyhow::Result<()> {
    let server = TestServer::spawn_with(&SETTINGS).await?;
    let [ann, bob, stranger] = register_all(&server, ["av_ann", "av_bob", "av_stranger"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let picture = ann.upload_png(400, 400, 90).await?;
    let bobs_own = bob.upload_png(64, 64, 10).await?;

    // Only an image ann may see can become her picture.
    let refused = ann
        .call(
            reqwest::Method::PUT,
            "api/v1/me/avatar",
            Some(serde_json::json!({"media_id": bobs_own.id})),
        )
        .await?;
    let error = expect_error(refused, StatusCode::BAD_REQUEST).await?;
    assert_eq!(
        error.code,
        ErrorCode::InvalidInput {
            field: "media_id".into()
        }
    );

    // She posts it, sets it, and deletes the message: the picture stays.
    let mut ws = WsClient::connect(&server, &ann.token).await?;
    let posted = ws
        .post(
            dm,
            "pic",
            MessageContent::Image {
                media_id: picture.id.clone(),
            },
        )
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;
    let me: natter_common::api::User = expect_json(
        ann.call(
            reqwest::Method::PUT,
            "api/v1/me/avatar",
            Some(serde_json::json!({"media_id": picture.id})),
        )
        .await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(me.avatar.as_deref(), Some(picture.id.as_str()));
    ws.delete(dm, "unpost", &posted.id)
        .await?
        .map_err(|code| anyhow::anyhow!("{code:?}"))?;

    // Everyone signed in sees it: a stranger, and ann's contact in his list.
    let thumb = format!("media/{}/thumb", picture.id);
    assert_eq!(stranger.get(&thumb).await?.status(), StatusCode::OK);
    let seen: natter_common::api::User = stranger.get_json(&format!("api/v1/users/{}", ann.id().0)).await?;
    assert_eq!(seen.avatar.as_deref(), Some(picture.id.as_str()));
    let contacts: Vec<natter_common::api::Contact> = bob.get_json("api/v1/contacts").await?;
    assert_eq!(contacts[0].user.avatar.as_deref(), Some(picture.id.as_str()));
    let listed: Vec<natter_common::api::Conversation> = bob.get_json("api/v1/conversations").await?;
    assert!(
        matches!(&listed[0].kind, natter_common::api::ConversationKind::Direct { peer } if peer.avatar.as_deref() == Some(picture.id.as_str()))
    );

    // Removed: initials again, and bob's own image is still only his.
    let me: natter_common::api::User = expect_json(ann.delete("api/v1/me/avatar").await?, StatusCode::OK).await?;
    assert_eq!(me.avatar, None);
    assert_eq!(
        stranger.get(&format!("media/{}/thumb", bobs_own.id)).await?.status(),
        StatusCode::NOT_FOUND
    );

    // Set again, then the account goes: so does the picture.
    ann.call(
        reqwest::Method::PUT,
        "api/v1/me/avatar",
        Some(serde_json::json!({"media_id": picture.id})),
    )
    .await?
    .error_for_status()?;
    let response = ann
        .call(
            reqwest::Method::DELETE,
            "api/v1/me",
            Some(serde_json::json!({"password": natter_tests::api::PASSWORD})),
        )
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(stranger.get(&thumb).await?.status(), StatusCode::NOT_FOUND);
    Ok(())
}
