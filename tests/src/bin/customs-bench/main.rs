//! `customs-bench`: the node against its physical ceilings and against a peer system.
//!
//! Each benchmark prints its figure beside a ceiling measured in the same run, and the
//! ratio; the report (Markdown) names the machine, the date and the command. Nodes run
//! as real `customs-node` processes on loopback, with real stores on disk.
//!
//!     cargo build --release --workspace --bins && target/release/customs-bench
//!     target/release/customs-bench --quick          (each benchmark small: a smoke test)
//!     target/release/customs-bench --only catchup,million --out report.md

mod attachments;
mod catchup;
mod data;
mod dissemination;
mod exports;
mod hardening;
mod hypercore;
mod ingest;
mod million;
mod nodes;
mod publish;
mod report;
mod simulation;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use report::Report;

#[derive(Parser)]
#[command(about = "Benchmarks of the customs node against its ceilings and against Hypercore")]
struct Args {
    /// Run every benchmark small (seconds, not minutes): a smoke test of the harness.
    /// Its figures are not meant to be compared.
    #[arg(long)]
    quick: bool,
    /// Run only these benchmarks (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the benchmark's data here instead of a temporary directory removed at the
    /// end (the million-entry stores take about 3 GB).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Bench {
    /// 1. Decode + verify + store with group commit, against bare verification and sled.
    Ingest,
    /// 2. Acknowledged POST /api/v1/alerts with 1, 8 and 32 clients, against fsync.
    Publish,
    /// 3. Publish to stored-on-every-node across 5, 10 and 20 node processes.
    Dissemination,
    /// 4 and 7. Catch-up of 1k, 10k and 100k entries, beside Hypercore 11 replicating
    /// the same entries; storage at 100k.
    Catchup,
    /// 4 (small difference), 5 and 6. A store of 1M entries from 200 authors: disk,
    /// open time, one missing entry, memory while serving a catch-up.
    Million,
    /// 8. The sync core in the seeded simulator at 10, 50 and 200 members.
    Simulation,
    /// 9. API and p2p floods, a partition between hosts (needs root).
    Hardening,
    /// 10. Upload of 10 MiB attachments, and their first read on another member.
    Attachments,
    /// 11. The field's formats read whole (STIX bundle, TAXII collection, MISP
    ///     manifest, CEN file).
    Exports,
}

impl Bench {
    const ALL: [Bench; 9] = [
        Bench::Ingest,
        Bench::Publish,
        Bench::Dissemination,
        Bench::Catchup,
        Bench::Million,
        Bench::Simulation,
        Bench::Hardening,
        Bench::Attachments,
        Bench::Exports,
    ];
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The store's own log lines (how long an open took) when RUST_LOG asks for them.
    if std::env::var_os("RUST_LOG").is_some() {
        customs_node::logging::init("warn");
    }
    let node_binary = nodes::node_binary()?;
    // A temporary work directory is removed after a successful run and kept after a
    // failure, for the nodes' logs.
    let (work_dir, temporary) = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            (dir.clone(), false)
        }
        None => (
            tempfile::Builder::new()
                .prefix("customs-bench-")
                .tempdir()
                .context("creating a temporary directory")?
                .keep(),
            true,
        ),
    };
    let benches = if args.only.is_empty() {
        Bench::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let scale = if args.quick {
        data::Scale::quick()
    } else {
        data::Scale::full()
    };
    let mut report = Report::new(args.quick);
    println!("{}", report.header());
    let started = Instant::now();
    let env = nodes::Env {
        node_binary,
        work_dir,
    };
    for bench in benches {
        let result = match bench {
            Bench::Ingest => ingest::run(&env, &scale, &mut report),
            Bench::Publish => publish::run(&env, &scale, &mut report),
            Bench::Dissemination => dissemination::run(&env, &scale, &mut report),
            Bench::Catchup => catchup::run(&env, &scale, &mut report),
            Bench::Million => million::run(&env, &scale, &mut report),
            Bench::Simulation => simulation::run(&scale, &mut report),
            Bench::Hardening => hardening::run(&env, &scale, &mut report),
            Bench::Attachments => attachments::run(&env, &scale, &mut report),
            Bench::Exports => exports::run(&env, &scale, &mut report),
        };
        result.with_context(|| {
            format!(
                "benchmark {bench:?} failed; its data is kept in {}",
                env.work_dir.display()
            )
        })?;
    }
    if temporary {
        std::fs::remove_dir_all(&env.work_dir)
            .with_context(|| format!("removing {}", env.work_dir.display()))?;
    }
    report.finish(started.elapsed());
    if let Some(out) = &args.out {
        std::fs::write(out, report.markdown())
            .with_context(|| format!("writing {}", out.display()))?;
        println!("report written to {}", out.display());
    }
    Ok(())
}

/// Runs `work` on `threads` scoped threads (each given its index) and gathers what
/// they return, in thread order; the first error is returned.
pub fn on_threads<T: Send>(
    threads: usize,
    work: impl Fn(usize) -> anyhow::Result<Vec<T>> + Sync,
) -> anyhow::Result<Vec<T>> {
    std::thread::scope(|scope| {
        let work = &work;
        let workers: Vec<_> = (0..threads).map(|t| scope.spawn(move || work(t))).collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.join().expect("benchmark thread")?);
        }
        Ok(all)
    })
}
