//! Image uploads with progress and cancel, through XMLHttpRequest (fetch
//! cannot report upload progress).

use natter_common::{api::Media, ErrorBody, ErrorCode};
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{File, FormData, ProgressEvent, XmlHttpRequest};

/// An upload in flight; dropping it does not cancel it, `cancel` does.
#[derive(Clone)]
pub struct Upload {
    xhr: XmlHttpRequest,
}

impl Upload {
    /// Starts uploading `file`; `progress` gets 0.0–1.0 as bytes go out and
    /// `done` the server's answer (not called after `cancel`).
    pub fn start(
        file: &File,
        progress: impl Fn(f64) + 'static,
        done: impl FnOnce(Result<Media, ErrorBody>) + 'static,
    ) -> Result<Self, ErrorBody> {
        // One copy of the request code however many callers (wasm size).
        Self::start_boxed(file, Box::new(progress), Box::new(done))
    }

    fn start_boxed(
        file: &File,
        progress: Box<dyn Fn(f64)>,
        done: Box<dyn FnOnce(Result<Media, ErrorBody>)>,
    ) -> Result<Self, ErrorBody> {
        let failed = |_| ErrorBody {
            code: ErrorCode::Internal,
            message: "The upload could not start.".into(),
        };
        let xhr = XmlHttpRequest::new().map_err(failed)?;
        xhr.open("POST", "/api/v1/media").map_err(failed)?;
        let form = FormData::new().map_err(failed)?;
        form.append_with_blob_and_filename("file", file, &file.name())
            .map_err(failed)?;

        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
            if event.length_computable() && event.total() > 0.0 {
                progress(event.loaded() / event.total());
            }
        });
        xhr.upload()
            .map_err(failed)?
            .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        // Lives as long as the request; one small closure per upload.
        on_progress.forget();

        let answered = xhr.clone();
        let on_load = Closure::once_into_js(move || {
            let status = answered.status().unwrap_or(0);
            let body = answered.response_text().ok().flatten().unwrap_or_default();
            let outcome = if (200..300).contains(&status) {
                serde_json::from_str::<Media>(&body).map_err(|_| ErrorBody {
                    code: ErrorCode::Internal,
                    message: "The server sent an unexpected answer.".into(),
                })
            } else if status == 0 {
                Err(ErrorBody {
                    code: ErrorCode::Unavailable,
                    message: "The upload was interrupted.".into(),
                })
            } else {
                Err(serde_json::from_str::<ErrorBody>(&body).unwrap_or(ErrorBody {
                    code: ErrorCode::Internal,
                    message: format!("The upload failed ({status})."),
                }))
            };
            done(outcome);
        });
        xhr.set_onload(Some(on_load.unchecked_ref()));
        xhr.set_onerror(Some(on_load.unchecked_ref()));
        xhr.send_with_opt_form_data(Some(&form)).map_err(failed)?;
        Ok(Self { xhr })
    }

    pub fn cancel(&self) {
        self.xhr.set_onload(None);
        self.xhr.set_onerror(None);
        let _ = self.xhr.abort();
    }
}
