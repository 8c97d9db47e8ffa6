//! Several images on their way at once: one sent while another uploads
//! does not stop it; each shows its own preview, progress and cancel;
//! cancelling one leaves the others; and they arrive in the order they
//! were sent, even when a later one finishes first.
//!
//! Uploads go through `XMLHttpRequest`; a script put in before the app
//! loads ([`HOLD`]) holds each upload until the test lets it go, and
//! records which ones the app aborted.

use anyhow::{ensure, Context};
use fantoccini::{Client, Locator};
use natter_common::{
    events::{EventBody, MessageContent},
    ids::ConversationId,
};
use natter_tests::{
    api::{befriend, full_history, register_all, Authed},
    browser::{click, count_is, frames, open_chat, sign_in, wait_for, wait_js, Cdp},
    Browser, TestServer, FAST,
};

/// Holds every `XMLHttpRequest` at `send` until `__uploads[i].go()`, and
/// marks the ones aborted (`__uploads[i].aborted`); `__uploads[i].xhr` is
/// the request.
const HOLD: &str = r#"
(() => {
    window.__uploads = [];
    const send = XMLHttpRequest.prototype.send;
    const abort = XMLHttpRequest.prototype.abort;
    XMLHttpRequest.prototype.send = function (body) {
        const xhr = this;
        const entry = { xhr, aborted: false, released: false };
        entry.go = () => {
            if (!entry.aborted && !entry.released) { entry.released = true; send.call(xhr, body); }
        };
        xhr.__entry = entry;
        window.__uploads.push(entry);
    };
    XMLHttpRequest.prototype.abort = function () {
        if (this.__entry) this.__entry.aborted = true;
        return abort.call(this);
    };
})();
"#;

/// A `width` × `height` PNG in a temporary file named `<prefix>…png`.
fn picture(prefix: &str, width: u32, height: u32) -> anyhow::Result<(tempfile::NamedTempFile, String, String)> {
    let file = tempfile::Builder::new().prefix(prefix).suffix(".png").tempfile()?;
    image::DynamicImage::new_rgb8(width, height).save_with_format(file.path(), image::ImageFormat::Png)?;
    let path = file.path().to_str().context("temp path")?.to_owned();
    let name = file
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .context("file name")?
        .to_owned();
    Ok((file, path, name))
}

/// Attaches the file at `path` and sends it from its preview.
async fn send_picture(c: &Client, path: &str, name: &str) -> anyhow::Result<()> {
    c.find(Locator::Id("attach-input")).await?.send_keys(path).await?;
    wait_for(
        c,
        &format!("//div[contains(@class,'attachment-preview')][.//*[normalize-space(.)='{name}']]"),
    )
    .await?;
    click(c, Locator::Id("send-attachment")).await?;
    Ok(())
}

/// The upload row of `name`: its own preview, progress bar (labelled) and
/// cancel button.
fn upload_row(name: &str) -> String {
    format!(
        "//div[contains(@class,'upload-status')]\
         [.//img[contains(@class,'upload-preview')][starts-with(@src,'blob:')]]\
         [.//label[normalize-space()='Uploading {name}'][@for=../progress/@id]]\
         [.//progress]\
         [.//button[contains(@class,'cancel-upload')][normalize-space()='Cancel']]"
    )
}

/// Waits until the app has started `count` uploads.
async fn uploads_started(c: &Client, count: usize) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{count} uploads started"),
        "return window.__uploads.length === arguments[0] || `${window.__uploads.length} started`;",
        vec![serde_json::json!(count)],
    )
    .await
}

/// Which uploads (by order of sending) the app has aborted.
async fn aborted(c: &Client) -> anyhow::Result<Vec<bool>> {
    let value = c
        .execute("return window.__uploads.map(u => u.aborted);", vec![])
        .await?;
    Ok(serde_json::from_value(value)?)
}

/// The sizes of the images sent in `dm`, in the order of its history.
async fn sent_sizes(user: &Authed, dm: ConversationId) -> anyhow::Result<Vec<(u32, u32)>> {
    let mut sizes = Vec::new();
    for event in full_history(user, dm).await? {
        if let EventBody::Message {
            content: MessageContent::Image { media_id },
            ..
        } = event.body
        {
            let bytes = user.get(&format!("media/{media_id}")).await?.bytes().await?;
            let image = image::load_from_memory(&bytes)?;
            sizes.push((image.width(), image.height()));
        }
    }
    Ok(sizes)
}

#[tokio::test]
async fn an_image_sent_while_another_uploads_does_not_stop_it() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["uploads_ann", "uploads_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let (_first_file, first, first_name) = picture("first-", 600, 300)?;
    let (_second_file, second, second_name) = picture("second-", 300, 600)?;
    let (_third_file, third, third_name) = picture("third-", 200, 200)?;

    let url = server.url.clone();
    let ann = &ann;
    let browser = Browser::launch().await?;
    let cdp: Cdp = browser.cdp();
    browser
        .run("uploads_parallel", |c| async move {
            cdp.before_load(&c, HOLD).await?;
            sign_in(&c, &url, "uploads_ann").await?;
            open_chat(&c, &url, dm.0).await?;

            // The first image goes up (held on its way).
            send_picture(&c, &first, &first_name).await?;
            uploads_started(&c, 1).await?;

            // A second one, chosen and sent while the first is uploading:
            // both go on, each with its own row.
            send_picture(&c, &second, &second_name).await?;
            uploads_started(&c, 2).await?;
            ensure!(
                aborted(&c).await? == [false, false],
                "uploads aborted: {:?}",
                aborted(&c).await?
            );
            wait_for(&c, &upload_row(&second_name)).await?;
            wait_for(&c, &upload_row(&first_name)).await?;
            count_is(&c, ".upload-status", 2).await?;
            ensure!(
                aborted(&c).await? == [false, false],
                "uploads aborted: {:?}",
                aborted(&c).await?
            );

            // A third, cancelled from its own row: only it stops.
            send_picture(&c, &third, &third_name).await?;
            wait_for(&c, &upload_row(&third_name)).await?;
            count_is(&c, ".upload-status", 3).await?;
            click(
                &c,
                Locator::XPath(&format!(
                    "{}//button[contains(@class,'cancel-upload')]",
                    upload_row(&third_name)
                )),
            )
            .await?;
            count_is(&c, ".upload-status", 2).await?;
            ensure!(
                aborted(&c).await? == [false, false, true],
                "uploads aborted: {:?}",
                aborted(&c).await?
            );
            wait_for(&c, &upload_row(&first_name)).await?;
            wait_for(&c, &upload_row(&second_name)).await?;

            // The second finishes first; it still comes after the first.
            c.execute("window.__uploads[1].go();", vec![]).await?;
            wait_js(
                &c,
                "the second upload done",
                "return window.__uploads[1].xhr.readyState === 4 || `state ${window.__uploads[1].xhr.readyState}`;",
                vec![],
            )
            .await?;
            // Stored, and waiting for the first: nothing sent yet.
            frames(&c, 3).await?;
            count_is(&c, ".upload-status", 2).await?;
            ensure!(
                sent_sizes(ann, dm).await?.is_empty(),
                "the second image went before the first"
            );
            c.execute("window.__uploads[0].go();", vec![]).await?;
            count_is(&c, ".upload-status", 0).await?;
            count_is(&c, "ol.timeline li.message[data-seq] button.image-link", 2).await?;
            let sizes = sent_sizes(ann, dm).await?;
            ensure!(
                sizes == [(600, 300), (300, 600)],
                "the images sent, in order: {sizes:?} (the first was 600×300, the second 300×600)"
            );
            ensure!(
                c.find_all(Locator::Css(".form-error:not(:empty)")).await?.is_empty(),
                "an error shows"
            );
            Ok(())
        })
        .await
}
