//! Kubeconfigs as people have them: a context's cluster, user (token, client certificate or
//! exec plugin, all kube-rs's), the proxy kubectl would use (see [`super::proxy`]), and an
//! API server that refuses the credentials said to be that at once.

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::proxy;

/// A client built from the simulator's own kubeconfig, the same path a user's kubectl takes.
pub async fn sim_client(sim: &vstp_sim::SimHandle) -> anyhow::Result<kube::Client> {
    let file = Kubeconfig::from_yaml(&sim.kubeconfig())
        .context("the simulator wrote an unreadable kubeconfig")?;
    let config = config_of(file, &Default::default())
        .await
        .context("the simulator's kubeconfig is not usable")?;
    kube::Client::try_from(config).context("cannot build a Kubernetes client for the simulator")
}

/// A client for `context` (default: the current one) of the kubeconfig at `path` (default:
/// `$KUBECONFIG`, then `~/.kube/config`).
pub async fn cluster_client(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Client> {
    let kube_options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    let file = match path {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read kubeconfig {}", path.display()))?,
        None => Kubeconfig::read().context(
            "cannot load a kubeconfig for --target cluster; pass --kubeconfig FILE or set KUBECONFIG",
        )?,
    };
    let config = config_of(file, &kube_options)
        .await
        .context("the kubeconfig is not usable for --target cluster")?;
    kube::Client::try_from(config).context("cannot build a Kubernetes client from the kubeconfig")
}

/// The bearer token the kubeconfig's selected user authenticates with (its `token`, or the
/// contents of its `tokenFile`), for services behind OpenShift's token-checking proxies
/// (thanos-querier). `None` for a client certificate or an exec plugin.
pub async fn cluster_token(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<Option<String>> {
    use secrecy::ExposeSecret as _;
    let file = match path {
        Some(path) => Kubeconfig::read_from(path)?,
        None => Kubeconfig::read()?,
    };
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    let auth = kube::Config::from_custom_kubeconfig(file, &options)
        .await?
        .auth_info;
    if let Some(token) = auth.token {
        return Ok(Some(token.expose_secret().trim().to_string()));
    }
    match auth.token_file {
        Some(file) => Ok(Some(
            std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read the kubeconfig's tokenFile {file}"))?
                .trim()
                .to_string(),
        )),
        None => Ok(None),
    }
}

/// kube-rs's configuration of the selected context, with kubectl's choice of proxy.
async fn config_of(file: Kubeconfig, options: &KubeConfigOptions) -> anyhow::Result<kube::Config> {
    let proxy_url = proxy_url_of(&file, options);
    let mut config = kube::Config::from_custom_kubeconfig(file, options).await?;
    config.proxy_url = proxy::proxy_for(&config.cluster_url, proxy_url.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    // kube-rs would retry 429/503/504 inside each call, 15 times over about 2.7 minutes, unseen:
    // a wait's budget could end inside one call, and a 429 that means "a PodDisruptionBudget
    // blocks this eviction" would come back only minutes late. Retries belong to
    // `super::retry`, which every caller chooses and bounds.
    config.default_retry = false;
    Ok(config)
}

/// The `proxy-url` of the cluster the selected context names, as written in the file.
fn proxy_url_of(file: &Kubeconfig, options: &KubeConfigOptions) -> Option<String> {
    let context_name = options.context.as_ref().or(file.current_context.as_ref())?;
    let context = file.contexts.iter().find(|c| &c.name == context_name)?;
    let cluster_name = options
        .cluster
        .as_ref()
        .unwrap_or(&context.context.as_ref()?.cluster);
    let cluster = file.clusters.iter().find(|c| &c.name == cluster_name)?;
    cluster.cluster.as_ref()?.proxy_url.clone()
}

/// What the first request's failure means for the person running vstp. A refused token is
/// final: asking again with it cannot succeed, so it is reported at once with what to do.
pub fn first_contact_failed(error: kube::Error) -> anyhow::Error {
    let advice = match &error {
        kube::Error::Api(status) if status.code == 401 => {
            "the API server refused the kubeconfig's credentials (401 Unauthorized): the token \
             has expired or is not valid for this cluster; log in again (`oc login`, or a fresh \
             kubeconfig or token) and rerun"
        }
        kube::Error::Api(status) if status.code == 403 => {
            "the API server knows the kubeconfig's user but forbids it to read /version (403); \
             use a user with cluster access"
        }
        kube::Error::Auth(_) => {
            "cannot get credentials from the kubeconfig (its exec plugin, token file or \
             client certificate); run the plugin by hand or log in again"
        }
        _ => {
            "the API server is not reachable; check the kubeconfig's server, credentials, \
              proxy (proxy-url, HTTPS_PROXY, NO_PROXY) and network"
        }
    };
    anyhow::Error::new(error).context(advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        let status = kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(code);
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn a_refused_token_is_reported_as_such_with_what_to_do() {
        let said = format!("{:#}", first_contact_failed(api_error(401)));
        assert!(
            said.contains("refused the kubeconfig's credentials"),
            "{said}"
        );
        assert!(said.contains("log in again"), "{said}");
        let other = format!("{:#}", first_contact_failed(api_error(503)));
        assert!(other.contains("not reachable"), "{other}");
    }

    #[test]
    fn the_proxy_url_is_read_from_the_selected_contexts_cluster() {
        let file = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
             clusters:\n- name: ca\n  cluster: {server: 'https://a:6443', proxy-url: 'http://pa:1'}\n\
             - name: cb\n  cluster: {server: 'https://b:6443'}\n\
             contexts:\n- name: a\n  context: {cluster: ca, user: u}\n\
             - name: b\n  context: {cluster: cb, user: u}\n\
             users:\n- name: u\n  user: {token: t}\n",
        )
        .unwrap();
        let current = proxy_url_of(&file, &Default::default());
        assert_eq!(current.as_deref(), Some("http://pa:1"));
        let b = KubeConfigOptions {
            context: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(proxy_url_of(&file, &b), None);
    }
}
