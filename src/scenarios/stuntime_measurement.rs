//! stps/sig-network/stuntime_measurement.md — the stun time of a live migration on a secondary
//! network (CNV-72773): row 1 over a Linux bridge, row 2 over OVN localnet.
//!
//! Each row is one trial measuring its twelve variants: a peer VM stays on one worker (A), the
//! VM under test is migrated along the three paths relative to A (leaving A; arriving on A;
//! between two other workers), once with the VM under test probing the peer (client) and once
//! with the peer probing it (server); IPv4 and IPv6 probes run side by side during each
//! migration, so six migrations give twelve values. Each value is a JUnit property of the
//! case and a step of its log, each timeline an SVG in the artifacts; the row fails when any
//! value exceeds `stuntime.threshold_seconds`.

use std::net::IpAddr;
use std::sync::Arc;

use super::scenario::{Attach, Scenario};
use crate::cluster::budget::Wait;
use crate::cluster::build::Nic;
use crate::cluster::scope::{NamespaceKind, Scope};
use crate::cluster::setups::{self, Subnet, TwoVlans};
use crate::ctx::Ctx;
use crate::guest::os::GuestOs;
use crate::guest::stun::{self, Gap};
use crate::guest::stun_plot::{self, Timeline};
use crate::plan::{row, Feature, Needs};
use crate::vm::Vm;

use crate::vm::phases::{migrate_seeing_phases, Phases};

const STP: &str = "sig-network/stuntime_measurement.md";

/// Three workers with a spare NIC: every path needs a third node.
const THREE_WORKERS: Needs = Needs {
    workers: 3,
    secondary_nics: 1,
    features: &[],
};
const THREE_WORKERS_LOCALNET: Needs = Needs {
    workers: 3,
    secondary_nics: 1,
    features: &[Feature::Localnet],
};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        row(STP, 1, "bridge-stuntime")
            .ids(&["CNV-72773"])
            .row_ids_are_jira()
            .needs(THREE_WORKERS)
            .changes_node_networking()
            .body(|ctx| async move { measure(&ctx, Medium::Bridge).await }),
        row(STP, 2, "localnet-stuntime")
            .ids(&["CNV-72773"])
            .row_ids_are_jira()
            .needs(THREE_WORKERS_LOCALNET)
            .changes_node_networking()
            .body(|ctx| async move { measure(&ctx, Medium::Localnet).await }),
    ]
}

/// Host parts of the two VMs' addresses.
const UNDER_TEST: u8 = 1;
const PEER: u8 = 10;

#[derive(Clone, Copy, PartialEq)]
enum Medium {
    Bridge,
    Localnet,
}

#[derive(Clone, Copy, PartialEq)]
enum Initiator {
    /// The VM under test probes the peer.
    Client,
    /// The peer probes the VM under test.
    Server,
}

/// Where the VM under test goes relative to the peer's node A.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    SameNodeFirst,
    DifferentToSame,
    AlwaysDifferent,
}

impl Path {
    fn slug(self) -> &'static str {
        match self {
            Path::SameNodeFirst => "same-node-first",
            Path::DifferentToSame => "different-to-same-node",
            Path::AlwaysDifferent => "always-different-nodes",
        }
    }

    /// The three paths in an order each can follow the last: from A, leave it, move between
    /// the others, come back; from elsewhere, move between the others, come to A, leave it.
    fn order_from(current: &str, peer_node: &str) -> [Path; 3] {
        use Path::*;
        if current == peer_node {
            [SameNodeFirst, AlwaysDifferent, DifferentToSame]
        } else {
            [AlwaysDifferent, DifferentToSame, SameNodeFirst]
        }
    }

    /// The target node taking this path from `current`.
    fn target<'n>(self, current: &str, peer_node: &'n str, nodes: &'n [String]) -> &'n str {
        let other = |n: &&String| n.as_str() != current && n.as_str() != peer_node;
        match self {
            Path::DifferentToSame => peer_node,
            _ => nodes.iter().find(other).map_or(peer_node, String::as_str),
        }
    }
}

/// One measured variant.
struct Measured {
    name: String,
    gap: Gap,
    seconds: f64,
}

/// Rows 1 and 2: every variant's stun time within the threshold.
async fn measure(ctx: &Ctx, medium: Medium) -> anyhow::Result<()> {
    let world = World::set_up(ctx, medium).await?;
    let threshold = ctx.target().await?.profile.stuntime_threshold;
    let (vm, peer) = world.start_vms(ctx).await?;
    world.connected(ctx, &vm, &peer).await?;
    let mut measured = Vec::new();
    let mut current = vm.booted_on().to_string();
    for initiator in [Initiator::Client, Initiator::Server] {
        for path in Path::order_from(&current, &world.peer_node) {
            let target = path.target(&current, &world.peer_node, &world.net.nodes);
            let variant = Variant {
                medium,
                initiator,
                path,
                target,
            };
            measured.extend(
                world
                    .run_variant(ctx, &vm, &peer, &variant, threshold)
                    .await?,
            );
            current = target.to_string();
        }
    }
    let over: Vec<String> = measured
        .iter()
        .filter(|m| m.seconds > threshold)
        .map(|m| {
            format!(
                "{} {:.3} s{}",
                m.name,
                m.seconds,
                if m.gap.recovered {
                    ""
                } else {
                    " (no answer again before the probe stopped)"
                }
            )
        })
        .collect();
    anyhow::ensure!(
        over.is_empty(),
        "stun time above the {threshold} s threshold in {} of {} variants: {}; timelines in {}",
        over.len(),
        measured.len(),
        over.join("; "),
        ctx.artifacts().display()
    );
    Ok(())
}

struct Variant<'a> {
    medium: Medium,
    initiator: Initiator,
    path: Path,
    target: &'a str,
}

impl Variant<'_> {
    fn name(&self, dst: IpAddr) -> String {
        let medium = match self.medium {
            Medium::Bridge => "bridge",
            Medium::Localnet => "localnet",
        };
        let family = if dst.is_ipv6() { "ipv6" } else { "ipv4" };
        let who = match self.initiator {
            Initiator::Client => "client",
            Initiator::Server => "server",
        };
        format!("stuntime-{medium}-{family}-{who}-{}", self.path.slug())
    }
}

/// The namespace, the network, one subnet, and the peer's node.
struct World {
    scope: Arc<Scope>,
    net: TwoVlans,
    subnet: Subnet,
    peer_node: String,
}

impl World {
    async fn set_up(ctx: &Ctx, medium: Medium) -> anyhow::Result<World> {
        let profile = &ctx.target().await?.profile;
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let net = match medium {
            Medium::Bridge => {
                ctx.step("a Linux bridge on every usable worker with the NIC, a bridge NAD");
                setups::bridged_vlans(&scope, profile).await?
            }
            Medium::Localnet => {
                ctx.step(
                    "an OVS bridge mapping on every usable worker with the NIC, a localnet NAD",
                );
                setups::localnet_vlans(&scope, profile).await?
            }
        };
        anyhow::ensure!(
            net.nodes.len() >= 3,
            "the three migration paths need three workers carrying the network, found {}: {:?}",
            net.nodes.len(),
            net.nodes
        );
        let subnet = ctx.subnet().await?;
        let peer_node = net.nodes[0].clone();
        Ok(World {
            scope,
            net,
            subnet,
            peer_node,
        })
    }

    /// The VM under test anywhere on the network's workers, the peer on node A.
    async fn start_vms(&self, ctx: &Ctx) -> anyhow::Result<(Vm, Vm)> {
        let nad = &self.net.nads[0];
        let nic = |host| Nic::bridge("net1", nad).with_addresses(&self.subnet.cidrs(host));
        let vm = ctx.vm("vm-under-test", GuestOs::Rhel).await?;
        let vm = vm.with_nic(nic(UNDER_TEST)).on_nodes(&self.net.nodes);
        let peer = ctx.vm("peer", GuestOs::Rhel).await?;
        let peer = peer.with_nic(nic(PEER)).on_node(&self.peer_node);
        let mut started = ctx.start_all(&self.scope, &[vm, peer]).await?.into_iter();
        match (started.next(), started.next()) {
            (Some(vm), Some(peer)) => Ok((vm, peer)),
            _ => anyhow::bail!("starting the VM under test and its peer returned fewer VMs"),
        }
    }

    /// Both VMs reach each other over every family before anything migrates: a gap that
    /// starts before the first answer would be the guests' start-up (IPv6 duplicate address
    /// detection, neighbour discovery), not the migration's stun time.
    async fn connected(&self, ctx: &Ctx, vm: &Vm, peer: &Vm) -> anyhow::Result<()> {
        for (from, to) in [(vm, PEER), (peer, UNDER_TEST)] {
            for address in self.subnet.addresses(to) {
                let budget = from.budget(Wait::Reaction);
                from.guest.assert_reaches(address, budget).await?;
            }
        }
        ctx.step("the VMs reach each other over IPv4 and IPv6");
        Ok(())
    }

    /// Migrates `vm` to the variant's target while probes run from the prober to the other
    /// VM over every family; reports and plots each family's stun time.
    async fn run_variant(
        &self,
        ctx: &Ctx,
        vm: &Vm,
        peer: &Vm,
        variant: &Variant<'_>,
        threshold: f64,
    ) -> anyhow::Result<Vec<Measured>> {
        let (prober, host) = match variant.initiator {
            Initiator::Client => (&vm.guest, PEER),
            Initiator::Server => (&peer.guest, UNDER_TEST),
        };
        let destinations = self.subnet.addresses(host);
        let scale = ctx.target().await?.guest_clock_scale(prober.os);
        // Long enough to outlast any migration: the probes are stopped once it is over.
        let deadline = 3600.0;
        let mut probes = Vec::new();
        for dst in &destinations {
            let tag = variant.name(*dst);
            probes.push(stun::start(prober, *dst, &tag, deadline).await?);
        }
        ctx.step(format!(
            "{}: probing every {} s while {} migrates to {}",
            variant
                .name(destinations[0])
                .replace("-ipv4", "")
                .replace("-ipv6", ""),
            stun::INTERVAL,
            vm.name(),
            variant.target
        ));
        let (migrated, phases) = migrate_seeing_phases(vm, variant.target).await?;
        // An observation window, not a wait for state: a gap longer than the threshold that
        // starts at the end of the migration must still be seen whole, on the prober's clock.
        let window = std::time::Duration::from_secs_f64((threshold + 1.0) / scale);
        tokio::time::sleep(window).await;
        ctx.step(format!("{migrated} done"));
        let mut measured = Vec::new();
        for (dst, probe) in destinations.iter().zip(&probes) {
            let log = stun::stop(prober, probe).await?;
            write_artifact(ctx, &format!("{}.log", variant.name(*dst)), &log)?;
            measured.push(report(ctx, variant, *dst, &log, &phases, scale, threshold)?);
        }
        Ok(measured)
    }
}

/// One family's value: the property, the step, the picture.
fn report(
    ctx: &Ctx,
    variant: &Variant<'_>,
    dst: IpAddr,
    log: &str,
    phases: &Phases,
    scale: f64,
    threshold: f64,
) -> anyhow::Result<Measured> {
    let name = variant.name(dst);
    let events = stun::events(log)?;
    let gap = stun::stun(&events)?;
    let seconds = gap.seconds() * scale;
    ctx.property(&name, format!("{seconds:.3}"));
    let verdict = if seconds > threshold {
        "ABOVE"
    } else {
        "within"
    };
    ctx.step(format!(
        "{name}: stun time {seconds:.3} s ({verdict} the {threshold} s threshold, {} echoes)",
        events.len()
    ));
    let title = format!("{name}: stun {seconds:.3} s (threshold {threshold} s)");
    let picture = stun_plot::svg(&Timeline {
        title: &title,
        events: &events,
        gap,
        phases,
        scale,
    });
    write_artifact(ctx, &format!("{name}.svg"), &picture)?;
    Ok(Measured { name, gap, seconds })
}

fn write_artifact(ctx: &Ctx, file: &str, text: &str) -> anyhow::Result<()> {
    let dir = ctx.artifacts();
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join(file), text))
        .map_err(|e| anyhow::anyhow!("cannot write {} in {}: {e}", file, dir.display()))
}
