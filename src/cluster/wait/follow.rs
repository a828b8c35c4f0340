//! Following one watch: list, check, then watch streams one after another from the last
//! version seen, until the check passes, a terminal state shows or the server refuses for good.

use std::sync::Mutex;

use futures::TryStreamExt;
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};

use super::describe::state_of;
use super::error::Stop;
use super::log::Followed;
use super::{lock, Seen, Watch};
use crate::cluster::kinds::to_value;

impl Watch {
    pub(super) async fn follow<T>(
        &self,
        seen: &Mutex<Seen>,
        check: &mut impl FnMut(&Seen) -> Option<T>,
        followed: &mut Followed,
    ) -> Result<T, Stop> {
        let api = self.api();
        let mut from = self.since.clone();
        let mut failures = 0u32;
        loop {
            // From a given version the watch replays every change in order, starting from
            // nothing seen; a list would show the present first and the past after it.
            let replaying = from.is_some();
            let version = match from.take() {
                Some(since) => since,
                None => match self.counted(followed, self.list(&api, seen)).await {
                    Ok(version) => version,
                    Err(e) => {
                        failures = self.on_failure(e, failures).await?;
                        continue;
                    }
                },
            };
            if let Some(found) = self.checked(seen, check)? {
                return Ok(found);
            }
            let mut resume = version;
            let mut events = 0u32;
            // Follows one watch stream after another; a stream that ends or cannot start resumes
            // from the last version seen. An expired version (410) cannot be replayed: the wait
            // goes on from a list (the present), and if it then times out its error says that
            // part of the history was lost, so a missed step is never silent.
            let expired_at = loop {
                let params = self.watch_params();
                let stream = match self.counted(followed, api.watch(&params, &resume)).await {
                    Ok(stream) => stream,
                    Err(kube::Error::Api(status)) if status.code == 410 => break resume,
                    Err(e) => {
                        failures = self.on_failure(e, failures).await?;
                        continue;
                    }
                };
                let mut stream = std::pin::pin!(stream);
                let mut expired = false;
                while let Ok(Some(event)) = stream.try_next().await {
                    match event {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                            resume = version_of(&o).unwrap_or(resume);
                            lock(seen).insert(name_of(&o), to_value(&o));
                        }
                        WatchEvent::Deleted(o) => {
                            resume = version_of(&o).unwrap_or(resume);
                            lock(seen).remove(&name_of(&o));
                        }
                        WatchEvent::Bookmark(b) => resume = b.metadata.resource_version,
                        WatchEvent::Error(status) => {
                            expired = status.code == 410;
                            break;
                        }
                    }
                    events += 1;
                    if let Some(found) = self.checked(seen, check)? {
                        followed.met_at = Some(resume);
                        return Ok(found);
                    }
                }
                if expired {
                    break resume;
                }
                failures = 0;
            };
            if replaying {
                followed.lost = Some(format!(
                    "; the replay's history after resourceVersion {expired_at} expired (410) and the wait went on from the present ({events} change(s) replayed before), so a change in between may be missing"
                ));
            }
        }
    }

    /// The check's verdict on what is seen now, unless a terminal state shows first.
    fn checked<T>(
        &self,
        seen: &Mutex<Seen>,
        check: &mut impl FnMut(&Seen) -> Option<T>,
    ) -> Result<Option<T>, Stop> {
        let seen = lock(seen);
        if let Some(terminal) = &self.terminal {
            if let Some((name, o)) = seen.iter().find(|(_, o)| terminal.matches(o)) {
                return Err(Stop::Terminal {
                    object: name.clone(),
                    state: state_of(o),
                });
            }
        }
        Ok(check(&seen))
    }

    /// Transient trouble (429, 5xx, a broken connection) pauses and counts; anything else the
    /// server says will not change by asking again.
    async fn on_failure(&self, error: kube::Error, failures: u32) -> Result<u32, Stop> {
        match error {
            e if crate::cluster::retry::transient(&e) => {
                tokio::time::sleep(crate::cluster::retry::backoff(failures + 1)).await;
                Ok(failures + 1)
            }
            kube::Error::Api(status) => Err(Stop::Refused(status)),
            other => Err(Stop::Refused(Box::new(kube::core::Status::failure(
                &other.to_string(),
                "ClientError",
            )))),
        }
    }

    async fn counted<T>(
        &self,
        followed: &mut Followed,
        request: impl std::future::Future<Output = T>,
    ) -> T {
        followed.requests += 1;
        request.await
    }

    async fn list(&self, api: &Api<DynamicObject>, seen: &Mutex<Seen>) -> kube::Result<String> {
        let params = ListParams {
            field_selector: self.fields.clone(),
            label_selector: self.labels.clone(),
            ..Default::default()
        };
        let list = api.list(&params).await?;
        let mut seen = lock(seen);
        seen.clear();
        for o in &list.items {
            seen.insert(name_of(o), to_value(o));
        }
        Ok(list.metadata.resource_version.unwrap_or_default())
    }

    fn watch_params(&self) -> WatchParams {
        let mut params = WatchParams::default().timeout(290);
        params.bookmarks = true;
        params.field_selector = self.fields.clone();
        params.label_selector = self.labels.clone();
        params
    }
}

fn name_of(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

fn version_of(o: &DynamicObject) -> Option<String> {
    o.metadata.resource_version.clone()
}
