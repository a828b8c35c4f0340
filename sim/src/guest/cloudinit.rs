//! What a guest gets from cloud-init (user data and network data v2) and from
//! accessCredentials: users with their SSH keys, and static addresses per NIC. Keys that
//! virt-launcher propagates through the guest agent arrive after boot (`agent_users`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use russh::keys::PublicKey;
use serde_json::Value;

use crate::kinds;
use crate::obj;
use crate::store::Store;

#[derive(Debug, Default, Clone)]
pub struct GuestConfig {
    /// Users and keys on the disk at boot (cloud-init, or accessCredentials by noCloud).
    pub users: BTreeMap<String, Vec<PublicKey>>,
    /// Keys of accessCredentials propagated by the qemu guest agent: written into the guest
    /// only once the agent answers (kubevirt v1.9.0 pkg/virt-launcher/virtwrap/
    /// access-credentials/access_credentials.go reloadCredentialFiles).
    pub agent_users: BTreeMap<String, Vec<PublicKey>>,
    /// Static addresses by guest NIC name (`eth1`) or by MAC.
    pub addresses: BTreeMap<String, Vec<(IpAddr, u8)>>,
    /// The NICs (by name or MAC) network data puts on DHCPv4 (`dhcp4: true`).
    pub dhcp4: std::collections::BTreeSet<String>,
    /// Plain-text passwords by user: what the console's login accepts.
    pub passwords: BTreeMap<String, String>,
}

/// Reads the VMI's cloud-init volumes and access credentials. `default_user` is the image's
/// default account (cloud-user on RHEL, Administrator on Windows).
pub fn read(store: &Store, vmi: &Value, default_user: &str) -> GuestConfig {
    let ns = obj::namespace(vmi);
    let mut config = GuestConfig::default();
    let mut default_user = default_user.to_string();
    for volume in vmi["spec"]["volumes"].as_array().into_iter().flatten() {
        let source = cloud_init_source(volume);
        if !source.is_object() {
            continue;
        }
        let (user_data, network_data) = source_documents(store, ns, source);
        if let Some(doc) = user_data.as_deref().and_then(yaml) {
            if let Some(name) = doc["user"].as_str() {
                default_user = name.to_string();
            }
            add_keys(&mut config, &default_user, &doc["ssh_authorized_keys"]);
            add_passwords(&mut config, &default_user, &doc);
            for user in doc["users"].as_array().into_iter().flatten() {
                let name = user["name"].as_str().unwrap_or(&default_user).to_string();
                add_keys(&mut config, &name, &user["ssh_authorized_keys"]);
                if let Some(password) = user["plain_text_passwd"].as_str() {
                    config.passwords.insert(name, password.to_string());
                }
            }
            config.users.entry(default_user.clone()).or_default();
        }
        if let Some(doc) = network_data.as_deref().and_then(yaml) {
            read_network(&mut config, &doc);
        }
    }
    for cred in vmi["spec"]["accessCredentials"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = &cred["sshPublicKey"];
        let secret = obj::str_at(key, "/source/secret/secretName");
        let keys: Vec<String> = store
            .get(kinds::SECRETS, ns, secret)
            .map(|s| secret_values(&s))
            .unwrap_or_default();
        let agent_users = key["propagationMethod"]["qemuGuestAgent"]["users"]
            .as_array()
            .cloned();
        let users: Vec<String> = match agent_users {
            Some(users) => users
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            None => vec![default_user.clone()],
        };
        let by_agent = key["propagationMethod"]["qemuGuestAgent"].is_object();
        for user in users {
            let entry = match by_agent {
                true => config.agent_users.entry(user).or_default(),
                false => config.users.entry(user).or_default(),
            };
            entry.extend(keys.iter().flat_map(|k| parse_keys(k)));
        }
    }
    config
}

/// The cloud-init documents as the VMI's cloud-init disk carries them: (user data, network
/// data), each as written (inline, base64 or from its Secret), for a real guest to read.
pub fn documents(store: &Store, vmi: &Value) -> (Option<String>, Option<String>) {
    let volumes = vmi["spec"]["volumes"].as_array().into_iter().flatten();
    let mut sources = volumes.map(cloud_init_source).filter(|s| s.is_object());
    match sources.next() {
        Some(source) => source_documents(store, obj::namespace(vmi), source),
        None => (None, None),
    }
}

/// A volume's cloud-init source: NoCloud or ConfigDrive (null when it is neither).
fn cloud_init_source(volume: &Value) -> &Value {
    if volume["cloudInitNoCloud"].is_object() {
        &volume["cloudInitNoCloud"]
    } else {
        &volume["cloudInitConfigDrive"]
    }
}

/// (user data, network data) of one cloud-init source.
fn source_documents(store: &Store, ns: &str, source: &Value) -> (Option<String>, Option<String>) {
    let user = text(
        store,
        ns,
        source,
        "userData",
        "userDataBase64",
        "secretRef",
        "userdata",
    );
    let network = text(
        store,
        ns,
        source,
        "networkData",
        "networkDataBase64",
        "networkDataSecretRef",
        "networkdata",
    );
    (user, network)
}

fn add_keys(config: &mut GuestConfig, user: &str, keys: &Value) {
    let parsed = keys
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(parse_keys);
    config
        .users
        .entry(user.to_string())
        .or_default()
        .extend(parsed);
}

/// cloud-init cc_set_passwords.py handle: `password` is the default user's; `chpasswd.users`
/// entries of type `text` (the default) name their user. Hashed ones cannot be typed back.
fn add_passwords(config: &mut GuestConfig, default_user: &str, doc: &Value) {
    if let Some(password) = doc["password"].as_str() {
        config
            .passwords
            .insert(default_user.to_string(), password.to_string());
    }
    for entry in doc["chpasswd"]["users"].as_array().into_iter().flatten() {
        let (Some(name), Some(password)) = (entry["name"].as_str(), entry["password"].as_str())
        else {
            continue;
        };
        if entry["type"].as_str().unwrap_or("text") == "text" {
            config
                .passwords
                .insert(name.to_string(), password.to_string());
        }
    }
}

/// Public keys in authorized_keys lines; lines that are not keys are skipped, as sshd does.
pub fn parse_keys(text: &str) -> Vec<PublicKey> {
    text.lines()
        .filter_map(|l| PublicKey::from_openssh(l.trim()).ok())
        .collect()
}

fn secret_values(secret: &Value) -> Vec<String> {
    let decode = |v: &Value| {
        v.as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok())
    };
    let mut out: Vec<String> = secret["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| decode(v))
        .collect();
    out.extend(
        secret["stringData"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_str().map(String::from)),
    );
    out
}

fn text(
    store: &Store,
    ns: &str,
    source: &Value,
    plain: &str,
    b64: &str,
    secret_ref: &str,
    secret_key: &str,
) -> Option<String> {
    if let Some(s) = source[plain].as_str() {
        return Some(s.to_string());
    }
    if let Some(s) = source[b64].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
    }
    let name = source[secret_ref]["name"].as_str()?;
    let secret = store.get(kinds::SECRETS, ns, name)?;
    let value = &secret["data"][secret_key];
    value
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| String::from_utf8(b).ok())
}

fn yaml(text: &str) -> Option<Value> {
    serde_saphyr::from_str::<Value>(text).ok()
}

fn read_network(config: &mut GuestConfig, doc: &Value) {
    let ethernets = doc.get("network").unwrap_or(doc)["ethernets"].clone();
    for (id, eth) in ethernets.as_object().into_iter().flatten() {
        let target = eth["set-name"]
            .as_str()
            .or(eth["match"]["name"].as_str())
            .map(String::from)
            .or_else(|| {
                eth["match"]["macaddress"]
                    .as_str()
                    .map(|m| m.to_lowercase())
            })
            .unwrap_or_else(|| id.clone());
        let addrs: Vec<(IpAddr, u8)> = eth["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(cidr)
            .collect();
        // netplan v2 `dhcp4` is a boolean; cloud-init also reads yes/on/true strings.
        if matches!(&eth["dhcp4"], Value::Bool(true))
            || matches!(eth["dhcp4"].as_str(), Some("true" | "yes" | "on"))
        {
            config.dhcp4.insert(target.clone());
        }
        config.addresses.entry(target).or_default().extend(addrs);
    }
}

/// `10.1.1.10/24` → (address, prefix length).
pub fn cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = text.split_once('/')?;
    Some((ip.parse().ok()?, len.parse().ok()?))
}
