//! Computes the Gram matrix of `n` signals of a benchmark workload on one
//! thread, for profilers (perf, callgrind):
//! `cargo run --release --example pairs -- cifar-gap 4 float64`.

#[path = "../benches/workloads.rs"]
mod workloads;

use ntk_rs::internals::{Plan, Signal, Target, Workspace};
use ntk_rs::{Control, Inputs, Kind, Precision, gram};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("cifar-gap", String::as_str);
    let workload = workloads::all().into_iter().find(|w| w.name == name).expect("a workload of bench.py");
    let n: usize = args.get(2).map_or(4, |s| s.parse().expect("n is a number"));
    let precision = match args.get(3).map_or("float64", String::as_str) {
        "float32" => Precision::F32,
        _ => Precision::F64,
    };
    let x = workloads::signals(&workload.shape, n, 1);
    let inputs = Inputs::new(x.view(), None).expect("valid inputs").with_precision(precision);
    ntk_rs::set_num_threads(1).expect("one thread");
    let (start, cpu) = (std::time::Instant::now(), cpu_ns());
    let k = gram(&workload.net, &inputs, Kind::Ntk, &Control::default()).expect("computed");
    let pairs = (n * (n + 1) / 2) as f64;
    let ms = start.elapsed().as_secs_f64() * 1e3 / pairs;
    let cpu_ms = (cpu_ns() - cpu) as f64 / 1e6 / pairs;
    let k01 = k.ntk.map(|k| k[[0, n.min(2) - 1]]);
    println!(
        "{} n={n} {precision:?}: {ms:.6} ms per pair ({cpu_ms:.6} ms CPU), K[0,1] = {k01:?}",
        workload.name
    );
    let grid = &workload.shape[..workload.shape.len() - 1];
    let channels = workload.shape[workload.shape.len() - 1];
    let readout = Plan::new(&workload.net, grid, Target::Readout).expect("a plan");
    let norms = Plan::new(&workload.net, grid, Target::Norms).expect("a plan");
    let (workspace, signal) = match precision {
        Precision::F64 => {
            (Workspace::<f64>::bytes_for(&readout, channels), Signal::<f64>::bytes_for(&norms, channels))
        }
        Precision::F32 => {
            (Workspace::<f32>::bytes_for(&readout, channels), Signal::<f32>::bytes_for(&norms, channels))
        }
    };
    println!(
        "memory: {:.2} MiB per thread (pair workspace), {:.1} KiB per signal",
        workspace as f64 / (1 << 20) as f64,
        signal as f64 / 1024.0
    );
}

/// CPU time of all threads of this process so far (Linux schedstat; 0 elsewhere).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
